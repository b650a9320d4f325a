"""Repository rules that make Debian's Bazel 4.2.3 work offline."""

_TOOLCHAIN_LOAD = '"find_cpp_toolchain", "use_cpp_toolchain")'
_PATCHED_FILES = [
    "cc/private/rules_impl/compiler_flag.bzl",
    "cc/private/rules_impl/cc_flags_supplier.bzl",
]

def _debian_rules_cc_impl(ctx):
    # Debian ships rules_cc 0.0.4, which calls use_cpp_toolchain(); Bazel 4.2.3 lacks it.
    # Copy the tree and replace the call by the toolchain type it returns.
    src = ctx.path(ctx.attr.path)
    for child in src.readdir():
        if child.basename != "cc":
            ctx.symlink(child, child.basename)

    # "cc" holds the files to patch, so it is a real copy rather than a symlink.
    ctx.execute(["cp", "-r", str(src.get_child("cc")), "cc"])
    for rel in _PATCHED_FILES:
        text = ctx.read(ctx.path(ctx.attr.path + "/" + rel))
        text = text.replace(_TOOLCHAIN_LOAD, '"find_cpp_toolchain")')
        text = text.replace(
            "use_cpp_toolchain()",
            '["@bazel_tools//tools/cpp:toolchain_type"]',
        )
        ctx.file(rel, text, executable = False)

debian_rules_cc = repository_rule(
    implementation = _debian_rules_cc_impl,
    attrs = {"path": attr.string(mandatory = True)},
    local = True,
)

def _coverage_tools_stub_impl(ctx):
    # `bazel test` only needs these targets to exist; `bazel coverage` is not supported.
    ctx.file("WORKSPACE", 'workspace(name = "remote_coverage_tools")\n')
    ctx.file("BUILD", """
filegroup(name = "coverage_report_generator", visibility = ["//visibility:public"])
filegroup(name = "lcov_merger", visibility = ["//visibility:public"])
""")

coverage_tools_stub = repository_rule(implementation = _coverage_tools_stub_impl)
