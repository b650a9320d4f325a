// End-to-end check of kvd with the JavaScript NATS client as an independent
// "any language" client: plain request/reply with JSON bodies (TextEncoder /
// JSON.parse) for set/get/add/push/range/set_add/set_query/keys/del, one
// error with its ADR-32 headers, and discovery of the "kv" service through
// @nats-io/services. Expects a fresh standalone kvd (link "default").
// Exits non-zero on the first mismatch.
//
// Usage: node kvd_interop.mjs nats://127.0.0.1:4222   (or NATS_URL=...)

import { connect } from "@nats-io/transport-node";
import {
  ServiceError,
  ServiceErrorCodeHeader,
  ServiceErrorHeader,
  ServiceResponseType,
  Svcm,
} from "@nats-io/services";

const url = process.argv[2] ?? process.env.NATS_URL;
if (!url) {
  console.error("usage: node kvd_interop.mjs <nats-url> <op,op,...>");
  process.exit(2);
}

// Every op of the API table (kv/codec/ops.h), comma-separated, from the runner.
const OPS = (process.argv[3] ?? "").split(",").filter((op) => op !== "");
if (OPS.length === 0) {
  console.error("usage: node kvd_interop.mjs <nats-url> <op,op,...>");
  process.exit(2);
}

let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks++;
}
function same(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  check(a === e, `${what}: got ${a}, want ${e}`);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

async function collect(iter) {
  const out = [];
  for await (const r of iter) out.push(r);
  return out;
}

const nc = await connect({ servers: url });

// One request; returns the raw message.
async function raw(op, body) {
  const data = typeof body === "string" ? body : JSON.stringify(body);
  return nc.request(`kv.default.${op}`, enc.encode(data), { timeout: 10000 });
}

// One request that must succeed; returns the parsed reply.
async function kv(op, body) {
  const m = await raw(op, body);
  check(!m.headers?.get(ServiceErrorCodeHeader),
        `${op} ${JSON.stringify(body)} succeeded (got ${dec.decode(m.data)})`);
  const out = JSON.parse(dec.decode(m.data));
  // Key-level replies carry the key's revision: checked here, then left out of
  // the comparisons.
  if ("revision" in out) {
    check(Number.isInteger(out.revision) && out.revision >= 0,
          `${op}: revision ${out.revision} is not a number`);
    delete out.revision;
  }
  return out;
}

try {
  // Strings, including unicode, quotes, newlines and NUL.
  same(await kv("get", { key: "greeting" }), { exists: false, value: "" },
       "get of an absent key");
  const value = 'héllo "wörld"\n✓ 🎉 \u0000 end';
  same(await kv("set", { key: "greeting", value }), { ok: true }, "set");
  same(await kv("get", { key: "greeting" }), { exists: true, value },
       "get returns the value byte-exactly");
  same(await kv("set", { key: "ttl", value: "x", expires: 3600 }), { ok: true },
       "set with expires");

  // Counters.
  same(await kv("add", { key: "hits", value: 5 }), { value: 5 },
       "add creates at 0");
  same(await kv("add", { key: "hits", value: -7 }), { value: -2 }, "add negative");
  same(await kv("get", { key: "hits" }), { exists: true, value: "-2" },
       "a counter reads as its decimal string");

  // Lists.
  for (const [i, v] of ["a", "b", "c", "d"].entries()) {
    same(await kv("push", { key: "list", value: v }), { length: i + 1 }, `push ${v}`);
  }
  same(await kv("range", { key: "list", start: 0, stop: -1 }),
       { values: ["a", "b", "c", "d"] }, "range 0 -1");
  same(await kv("range", { key: "list", start: -2, stop: -1 }),
       { values: ["c", "d"] }, "range with negative indices");

  // Sets.
  for (const v of ["pear", "apple", "fig", "apple"]) {
    await kv("set_add", { key: "fruit", value: v });
  }
  same(await kv("set_query", { key: "fruit" }),
       { values: ["apple", "fig", "pear"] }, "set_query is sorted, no duplicates");

  // Keys, paged.
  const all = [];
  let cursor;
  for (let page = 0; page < 10; page++) {
    const body = { limit: 2 };
    if (cursor) body.cursor = cursor;
    const r = await kv("keys", body);
    check(r.keys.length <= 2, "page within limit");
    all.push(...r.keys);
    cursor = r.cursor;
    if (!cursor) break;
  }
  same(all, ["fruit", "greeting", "hits", "list", "ttl"], "keys paged in order");
  same(await kv("keys", { prefix: "gr" }), { keys: ["greeting"] }, "keys by prefix");

  // del.
  same(await kv("del", { key: "greeting" }), { deleted: true }, "del");
  same(await kv("del", { key: "greeting" }), { deleted: false }, "del again");
  same(await kv("exists", { key: "greeting" }), { exists: false }, "gone");

  // Errors: headers and body agree.
  const bad = await raw("add", { key: "hits", value: "five" });
  check(bad.headers?.get(ServiceErrorCodeHeader) === "400",
        `bad add: code header 400 (got ${bad.headers?.get(ServiceErrorCodeHeader)})`);
  const message = bad.headers?.get(ServiceErrorHeader) ?? "";
  check(message.includes("'value'"), `error message names the field: ${message}`);
  same(JSON.parse(dec.decode(bad.data)), { error: { code: 400, message } },
       "error body");
  check(ServiceError.isServiceError(bad), "the JS client sees a service error");
  const wrongType = await raw("push", { key: "hits", value: "x" });
  check(wrongType.headers?.get(ServiceErrorCodeHeader) === "409", "wrong type is 409");
  const unknown = await raw("nope", "{}");
  check(unknown.headers?.get(ServiceErrorCodeHeader) === "404", "unknown op is 404");
  same(await kv("get", { key: "hits" }), { exists: true, value: "-2" },
       "errors changed nothing");

  // Batches and base64 values.
  same(await kv("mset", { entries: [{ key: "b1", value: "x" },
                                    { key: "b2", value: "y", expires: 60 },
                                    { key: "b1", value: "z" }] }),
       { ok: true, count: 2 }, "mset: the last entry of a key wins");
  same(await kv("mget", { keys: ["b1", "nope", "list", "b2"] }),
       { entries: [{ key: "b1", exists: true, value: "z" },
                   { key: "nope", exists: false },
                   { key: "list", exists: true, type: "list" },
                   { key: "b2", exists: true, value: "y" }] }, "mget in request order");
  const bytes = Buffer.from([0, 255, 128, 10]);
  same(await kv("set", { key: "bin", value: bytes.toString("base64"), encoding: "base64" }),
       { ok: true }, "set of a binary value in base64");
  same(await kv("mget", { keys: ["bin"], encoding: "base64" }),
       { entries: [{ key: "bin", exists: true, value: bytes.toString("base64") }] },
       "the same bytes back in base64");
  const asText = await raw("get", { key: "bin" });
  check(asText.headers?.get(ServiceErrorCodeHeader) === "422",
        "a binary value read as text is 422");
  const badBase64 = await raw("set", { key: "bin", value: "no!", encoding: "base64" });
  check(badBase64.headers?.get(ServiceErrorCodeHeader) === "400", "invalid base64 is 400");
  same(await kv("mdel", { keys: ["b1", "b2", "bin", "b1"] }), { deleted: 3 },
       "mdel counts each key once");

  // TTL control.
  same(await kv("set_add", { key: "tt", value: "m", expires: 60 }), { size: 1 },
       "set_add with expires");
  same(await kv("persist", { key: "tt" }), { updated: true }, "persist");
  same(await kv("ttl", { key: "tt" }), { exists: true, ttl: -1 }, "no TTL after persist");
  same(await kv("expire", { key: "nope", expires: 5 }), { updated: false },
       "expire of a missing key");
  same(await kv("del", { key: "tt" }), { deleted: true }, "del");

  // Discovery through the services client.
  const client = new Svcm(nc).client();
  const pings = (await collect(await client.ping())).filter((p) => p.name === "kv");
  check(pings.length === 1, "one kv instance answers PING");
  check(pings[0].type === ServiceResponseType.PING, "ping type");
  const [info] = await collect(await client.info("kv", pings[0].id));
  check(info.type === ServiceResponseType.INFO, "info type");
  check(info.metadata?.replication === "off", "standalone node");
  same(info.endpoints.map((e) => e.subject).sort(),
       OPS.map((op) => `kv.default.${op}`).sort(), "one endpoint per op");
  check(info.endpoints.every((e) => e.queue_group === "q"), "queue group q");
  const [stats] = await collect(await client.stats("kv", pings[0].id));
  check(stats.type === ServiceResponseType.STATS, "stats type");
  const byName = Object.fromEntries(stats.endpoints.map((e) => [e.name, e]));
  check(byName.default_push?.num_requests === 5 &&
          byName.default_push?.num_errors === 1,
        "push counted 5 requests, 1 of them (wrong type) an error");
  check(byName.default_add?.num_errors === 1, "the bad add counted as an error");
  // The "keys" figure counts live keys only (the deleted "greeting", "b1", "b2",
  // "bin" and "tt" are tombstones until collected).
  const heldKeys = byName.default_get?.data?.keys;
  const tombstones = byName.default_get?.data?.tombstones;
  check(heldKeys === 4, `replica figures: 4 live keys (got ${heldKeys})`);
  check(tombstones >= 0 && tombstones <= 5, `at most 5 tombstones (got ${tombstones})`);
  check(byName.default_get?.data?.link === "default", "replica figures: link");
  // Calling an endpoint found by discovery.
  const getSubject = info.endpoints.find((e) => e.name === "default_get").subject;
  const m = await nc.request(getSubject, enc.encode('{"key":"list"}'), { timeout: 10000 });
  check(m.headers?.get(ServiceErrorCodeHeader) === "409",
        "get of a list through the discovered subject is 409");

  console.log(`kvd interop: ${checks} checks passed`);
} catch (err) {
  console.error(`kvd interop FAILED: ${err.message}`);
  process.exitCode = 1;
} finally {
  await nc.close();
}
