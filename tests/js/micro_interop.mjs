// Interoperability check of natskv's C++ micro/ library with the official
// JavaScript NATS services client (@nats-io/services): discovers the demo
// service (//micro:micro_demo), reads its ping/info/stats through Svcm's
// ServiceClient and checks every field against the ADR-32 shapes, and calls
// its endpoints. Exits non-zero on the first failed expectation.
//
// Usage: node micro_interop.mjs nats://127.0.0.1:4222   (or NATS_URL=...)

import { connect } from "@nats-io/transport-node";
import {
  ServiceError,
  ServiceErrorCodeHeader,
  ServiceErrorHeader,
  ServiceResponseType,
  Svcm,
} from "@nats-io/services";

const url = process.argv[2] ?? process.env.NATS_URL;
const name = process.env.MICRO_SERVICE_NAME ?? "demo";
if (!url) {
  console.error("usage: node micro_interop.mjs <nats-url>");
  process.exit(2);
}

let checks = 0;
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  checks++;
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const NAME = /^[a-zA-Z0-9_-]+$/;

function isStringMap(v) {
  return (
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === "string")
  );
}

function isNanos(v) {
  return Number.isSafeInteger(v) && v >= 0;
}

function checkIdentity(r, type, what) {
  check(r.type === type, `${what}: type ${r.type} === ${type}`);
  check(typeof r.name === "string" && NAME.test(r.name), `${what}: name`);
  check(typeof r.id === "string" && r.id.length === 22, `${what}: id`);
  check(typeof r.version === "string" && SEMVER.test(r.version),
        `${what}: version`);
  check(isStringMap(r.metadata), `${what}: metadata is an object of strings`);
}

async function collect(iter) {
  const out = [];
  for await (const r of iter) out.push(r);
  return out;
}

const nc = await connect({ servers: url });
try {
  const client = new Svcm(nc).client();

  // PING: every service answers $SRV.PING; ours is among them.
  const pings = (await collect(await client.ping())).filter(
    (p) => p.name === name,
  );
  check(pings.length === 1, `one ${name} instance answers PING`);
  const ping = pings[0];
  checkIdentity(ping, ServiceResponseType.PING, "ping");
  check(
    Object.keys(ping).sort().join() === "id,metadata,name,type,version",
    `ping has exactly the standard fields: ${Object.keys(ping)}`,
  );
  const id = ping.id;

  // INFO at the name and name+id levels.
  const infos = await collect(await client.info(name));
  check(infos.length === 1, "one INFO reply for the name");
  const [info] = await collect(await client.info(name, id));
  checkIdentity(info, ServiceResponseType.INFO, "info");
  check(info.id === id, "info id matches ping");
  check(typeof info.description === "string", "info description is a string");
  check(Array.isArray(info.endpoints), "info endpoints is an array");
  for (const e of info.endpoints) {
    check(typeof e.name === "string" && NAME.test(e.name), "endpoint name");
    check(typeof e.subject === "string" && e.subject.length > 0,
          "endpoint subject");
    check(e.queue_group === "q", "endpoint queue_group is q");
    check(isStringMap(e.metadata), "endpoint metadata is an object");
  }
  const byName = Object.fromEntries(info.endpoints.map((e) => [e.name, e]));
  check(byName.echo?.subject === `${name}.echo`, "echo endpoint subject");
  check(byName.fail?.subject === `${name}.fail`, "fail endpoint subject");

  // The endpoints: echo, and fail with the ADR-32 error headers.
  const echoed = await nc.request(`${name}.echo`, "hello", { timeout: 5000 });
  check(echoed.string() === "hello", "echo replies its request");
  check(!ServiceError.isServiceError(echoed), "echo is not an error");
  const failed = await nc.request(`${name}.fail`, "x", { timeout: 5000 });
  check(ServiceError.isServiceError(failed), "fail is a service error");
  check(failed.headers?.get(ServiceErrorCodeHeader) === "400",
        "fail error code header is 400");
  check(failed.headers?.get(ServiceErrorHeader) === "demo failure",
        "fail error header");
  const se = ServiceError.toServiceError(failed);
  check(se?.code === 400 && se?.message === "demo failure",
        "ServiceError parsed by the client");

  // STATS through the client.
  const [stats] = await collect(await client.stats(name, id));
  checkIdentity(stats, ServiceResponseType.STATS, "stats");
  check(typeof stats.started === "string" && stats.started.endsWith("Z"),
        "started is a UTC string");
  const started = new Date(stats.started);
  check(!Number.isNaN(started.getTime()), `started parses: ${stats.started}`);
  check(Math.abs(Date.now() - started.getTime()) < 3600e3,
        "started is recent");
  check(Array.isArray(stats.endpoints), "stats endpoints is an array");
  for (const e of stats.endpoints) {
    check(typeof e.name === "string" && typeof e.subject === "string",
          "stats endpoint name/subject");
    check(e.queue_group === "q", "stats endpoint queue_group");
    for (const f of ["num_requests", "num_errors", "processing_time",
                     "average_processing_time"]) {
      check(isNanos(e[f]), `${e.name}.${f} is a non-negative integer`);
    }
    check(typeof e.last_error === "string", "last_error is a string");
    check(
      e.average_processing_time ===
        (e.num_requests === 0
          ? 0
          : Math.floor(e.processing_time / e.num_requests)),
      `${e.name}: average = total / requests`,
    );
    check(e.data?.endpoint === e.name, `${e.name}: stats data object`);
  }
  const s = Object.fromEntries(stats.endpoints.map((e) => [e.name, e]));
  check(s.echo.num_requests >= 1 && s.echo.num_errors === 0,
        "echo counted without errors");
  check(s.echo.last_error === "", "echo last_error is empty");
  check(s.fail.num_requests >= 1 && s.fail.num_errors === s.fail.num_requests,
        "fail counted as errors");
  check(s.fail.last_error.includes("demo failure"), "fail last_error");
  check(s.echo.processing_time > 0, "processing time is measured");

  // The raw texts: integers are written as integers (no '.', no exponent).
  const raw = {};
  for (const verb of ["PING", "INFO", "STATS"]) {
    const m = await nc.request(`$SRV.${verb}.${name}.${id}`, "{}",
                               { timeout: 5000 });
    raw[verb] = m.string();
  }
  for (const f of ["num_requests", "num_errors", "processing_time",
                   "average_processing_time"]) {
    const re = new RegExp(`"${f}":(-?[0-9][0-9.eE+-]*)`, "g");
    const values = [...raw.STATS.matchAll(re)].map((m) => m[1]);
    check(values.length === stats.endpoints.length, `raw ${f} present`);
    check(values.every((v) => /^[0-9]+$/.test(v)), `raw ${f} integers`);
  }
  for (const verb of ["PING", "INFO", "STATS"]) {
    console.log(`${verb}: ${raw[verb]}`);
  }
  console.log(`micro interop: ${checks} checks passed`);
} catch (err) {
  console.error(`micro interop FAILED: ${err.message}`);
  process.exitCode = 1;
} finally {
  await nc.close();
}
