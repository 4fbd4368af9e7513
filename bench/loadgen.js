// The load generator: raw Engine.IO v4 / Socket.IO v5 text frames over the `ws` client.
//
//   node bench/loadgen.js CONFIG.json   -> one JSON object on stdout
//
// Written in Node rather than Python so that one generator core outruns one server core even
// against the Node reference (~100k deliveries/s); it parses only what it checks (new_message
// frames by substring, acks with JSON.parse) and reports its own CPU beside the server's.
// The Python driver (bench/driver.py) starts the servers, writes CONFIG and collects results.
// Every loop here is bounded in time; every socket goes to the URLs in CONFIG (127.0.0.1).
"use strict";

const fs = require("fs");
const http = require("http");
const path = require("path");
const { performance } = require("perf_hooks");
const nodeRequire = require("module").createRequire(path.join(__dirname, "reference", "node", "package.json"));
const WebSocket = nodeRequire("ws");

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const NEW_MESSAGE = '42["new_message",';
const OK = Object.freeze({ ok: true });

function quantiles(samples) {
  if (samples.length === 0) return { count: 0, p50: null, p90: null, p99: null, max: null };
  const sorted = Float64Array.from(samples).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const r = (v) => Math.round(v * 100) / 100;
  return { count: sorted.length, p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(sorted[sorted.length - 1]) };
}

// --- CPU of this process and of the server processes -------------------------------------------
function procCpuSeconds(pid, clkTck) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / clkTck; // utime + stime (all threads)
  } catch {
    return null;
  }
}

function procRssBytes(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

class CpuWindow {
  constructor(cfg) {
    this.pids = cfg.serverPids || [];
    this.clkTck = cfg.clkTck || 100;
    this.t0 = now();
    this.server0 = this.pids.map((pid) => procCpuSeconds(pid, this.clkTck));
    this.self0 = process.cpuUsage();
  }
  finish() {
    const wall = (now() - this.t0) / 1000;
    const server = this.pids.map((pid, i) => {
      const end = procCpuSeconds(pid, this.clkTck);
      return end === null || this.server0[i] === null ? null : Math.round(((end - this.server0[i]) / wall) * 1000) / 10;
    });
    const self = process.cpuUsage(this.self0);
    const gen = Math.round(((self.user + self.system) / 1e6 / wall) * 1000) / 10;
    return { serverCpuPct: server.length === 1 ? server[0] : server, generatorCpuPct: gen, wallS: Math.round(wall * 100) / 100 };
  }
}

// --- one Socket.IO connection over raw frames -----------------------------------------------------
class Conn {
  constructor(gen, idx, url, token) {
    this.gen = gen;
    this.idx = idx;
    this.url = url;
    this.token = token;
    this.ws = null;
    this.nextAck = 0;
    this.acks = new Map();
    this.open = false;
    this.recvFrom = new Map(); // sender index -> new_message count (loss and duplicate accounting)
    this.lastSeq = 0;
    this.chatId = null;
  }

  connect(timeoutMs) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          try { this.ws.terminate(); } catch {}
          reject(err);
        } else resolve(this);
      };
      const timer = setTimeout(() => done(new Error("connect timeout")), timeoutMs);
      this.ws = new WebSocket(this.url, { perMessageDeflate: this.gen.offerDeflate, handshakeTimeout: timeoutMs });
      this.onConnected = () => { this.open = true; done(null); };
      this.onRefused = (s) => done(new Error("connect_error " + s.slice(2, 200)));
      this.ws.on("message", (data) => this.handle(data.toString()));
      this.ws.on("error", (e) => done(e));
      this.ws.on("close", () => {
        if (this.open && !this.gen.closing) this.gen.errors.closed++;
        this.open = false;
        done(new Error("closed before connect"));
      });
    });
  }

  handle(s) {
    const c0 = s.charCodeAt(0);
    if (c0 === 52 /* '4' */) {
      const c1 = s.charCodeAt(1);
      if (c1 === 50 /* '2' event */) {
        if (s.startsWith(NEW_MESSAGE)) this.gen.onNewMessage(this, s);
        else this.gen.otherEvents++;
      } else if (c1 === 51 /* '3' ack */) {
        let i = 2;
        let id = 0;
        for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i)) id = id * 10 + (c - 48);
        const cb = this.acks.get(id);
        if (cb !== undefined) {
          this.acks.delete(id);
          // hot path: a send_message ack is checked for ok only, not parsed
          if (cb.fast === true && s.startsWith('[{"ok":true', i)) cb(OK);
          else cb(JSON.parse(s.slice(i))[0]);
        }
      } else if (c1 === 48 /* '0' connect */) this.onConnected();
      else if (c1 === 52 /* '4' connect_error */) this.onRefused(s);
      else if (c1 === 49 /* '1' disconnect */) this.gen.errors.disconnected++;
    } else if (c0 === 50 /* '2' ping */) {
      this.ws.send("3");
    } else if (c0 === 48 /* '0' open */) {
      this.ws.send(this.token ? "40" + JSON.stringify({ token: this.token }) : "40");
    }
  }

  emit(event, payload, onAck) {
    const id = this.nextAck++;
    this.acks.set(id, onAck);
    this.ws.send("42" + id + JSON.stringify([event, payload]));
  }

  request(event, payload, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(event + " ack timeout")), timeoutMs);
      this.emit(event, payload, (ack) => {
        clearTimeout(timer);
        if (ack && ack.ok) resolve(ack);
        else reject(new Error(event + " failed: " + JSON.stringify(ack).slice(0, 200)));
      });
    });
  }

  close() {
    try { this.ws.terminate(); } catch {}
  }
}

// --- the generator -------------------------------------------------------------------------------
class Generator {
  constructor(cfg) {
    this.cfg = cfg;
    this.offerDeflate = cfg.offerDeflate !== false;
    this.conns = [];
    this.closing = false;
    this.errors = { connect: 0, ackFailed: 0, ackMissing: 0, closed: 0, disconnected: 0, http: 0 };
    this.otherEvents = 0;
    this.orderViolations = 0;
    this.received = 0;
    this.expected = 0;
    this.sentOk = []; // per sender index: acked messages
    this.deliveryLatency = null; // array or null while not measuring
    this.onDelivery = null; // (tSend, latency) hook of the group ramp
    this.measureFrom = Infinity;
    this.measureTo = Infinity;
  }

  urlFor(i) {
    const urls = this.cfg.urls;
    return urls[i % urls.length];
  }

  async connectAll(from, to, concurrency, deadline = Infinity) {
    const users = this.cfg.users;
    let next = from;
    const worker = async () => {
      while (next < to && now() < deadline) {
        const i = next++;
        const conn = new Conn(this, i, this.urlFor(i), users[i] && users[i].token);
        try {
          await conn.connect(this.cfg.connectTimeoutMs || 30000);
          this.conns[i] = conn;
        } catch (e) {
          this.errors.connect++;
          if (this.errors.connect <= 3) process.stderr.write(`connect ${i}: ${e.message}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, worker));
  }

  onNewMessage(conn, s) {
    // content is "<senderIdx>|<n>|<tSendMs>" (no quotes), written by this generator
    const c = s.indexOf('"content":"');
    if (c < 0) return;
    const end = s.indexOf('"', c + 11);
    const content = s.slice(c + 11, end);
    const bar = content.indexOf("|");
    const sender = Number(content.slice(0, bar));
    const tSend = Number(content.slice(content.lastIndexOf("|") + 1));
    const k = s.indexOf('"seq":');
    if (k >= 0) {
      const seq = parseInt(s.slice(k + 6, k + 20), 10);
      if (seq <= conn.lastSeq) this.orderViolations++;
      conn.lastSeq = seq;
    }
    conn.recvFrom.set(sender, (conn.recvFrom.get(sender) || 0) + 1);
    this.received++;
    const t = now();
    if (this.onDelivery !== null) this.onDelivery(tSend, t - tSend);
    else if (tSend >= this.measureFrom && tSend < this.measureTo) this.deliveryLatency.push(t - tSend);
  }

  // send one message from conns[i] into its chat; calls back with (ack, latencyMs)
  send(i, n, recipients, cb) {
    const conn = this.conns[i];
    const t = now();
    const content = `${i}|${n}|${t.toFixed(3)}`;
    const onAck = (ack) => {
      const latency = now() - t;
      if (ack && ack.ok) {
        this.sentOk[i] = (this.sentOk[i] || 0) + 1;
        this.expected += recipients;
      } else {
        this.errors.ackFailed++;
        if (this.errors.ackFailed <= 3) process.stderr.write(`ack failed: ${JSON.stringify(ack).slice(0, 300)}\n`);
      }
      cb(ack, latency, t);
    };
    onAck.fast = true;
    conn.emit("send_message", { chatId: conn.chatId, content, clientMessageId: `b${i}-${n}` }, onAck);
  }

  async drain(timeoutMs) {
    const deadline = now() + timeoutMs;
    while (now() < deadline) {
      let pending = 0;
      for (const c of this.conns) if (c) pending += c.acks.size;
      if (pending === 0 && this.received >= this.expected) return true;
      await sleep(20);
    }
    return false;
  }

  // flow-wise loss: every member but the sender must get each acked message exactly once
  lossReport(chats) {
    let lost = 0;
    let duplicates = 0;
    for (const members of chats) {
      for (const r of members) {
        const rc = this.conns[r];
        if (!rc) continue;
        for (const s of members) {
          if (s === r) continue;
          const exp = this.sentOk[s] || 0;
          const got = rc.recvFrom.get(s) || 0;
          if (got < exp) lost += exp - got;
          else duplicates += got - exp;
        }
      }
    }
    let unacked = 0;
    for (const c of this.conns) if (c) unacked += c.acks.size;
    this.errors.ackMissing += unacked;
    return { lost, duplicates, unacked };
  }

  closeAll() {
    this.closing = true;
    for (const c of this.conns) if (c) c.close();
  }

  errorTotal() {
    return Object.values(this.errors).reduce((a, b) => a + b, 0);
  }
}

// --- HTTP (setup of group chats, history reads) --------------------------------------------------
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function httpJson(base, method, pathname, token, body) {
  return new Promise((resolve, reject) => {
    const url = new URL(pathname, base);
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(data ? { "content-type": "application/json", "content-length": data.length } : {}),
        },
        timeout: 15000,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("http timeout")));
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

// --- chat setup: ours creates chats through the protocol, the references use plain room names -----
async function setupChats(gen, chats, kind, type) {
  const cfg = gen.cfg;
  const ids = new Array(chats.length);
  const work = chats.map((members, ci) => async () => {
    const first = gen.conns[members[0]];
    if (kind === "ours") {
      if (type === "direct") {
        const ack = await first.request("join_chat", { recipientId: cfg.users[members[1]].id });
        ids[ci] = ack.chat.id;
      } else {
        const res = await httpJson(cfg.httpBase, "POST", "/v1/chats", cfg.users[members[0]].token, {
          type: "group",
          title: `bench ${ci}`,
          members: members.slice(1).map((m) => cfg.users[m].id),
        });
        if (res.status !== 201 && res.status !== 200) throw new Error(`create group: ${res.status} ${res.body.slice(0, 200)}`);
        ids[ci] = JSON.parse(res.body).id;
      }
    } else ids[ci] = `${type}-${ci}`;
    for (const m of members) {
      gen.conns[m].chatId = ids[ci];
      await gen.conns[m].request("join_chat", { chatId: ids[ci] });
    }
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(50, work.length) }, async () => {
      while (next < work.length) await work[next++]();
    }),
  );
  return ids;
}

function groupsOf(count, size) {
  return Array.from({ length: count }, (_, g) => Array.from({ length: size }, (_, k) => g * size + k));
}

// --- scenarios -------------------------------------------------------------------------------------
async function closedLoop(gen, senders, recipients, warmupS, measureS) {
  const t0 = now();
  gen.measureFrom = t0 + warmupS * 1000;
  gen.measureTo = gen.measureFrom + measureS * 1000;
  gen.deliveryLatency = [];
  const ackLatency = [];
  let acked = 0;
  let cpu = null;
  const cpuTimer = setTimeout(() => { cpu = new CpuWindow(gen.cfg); }, warmupS * 1000);
  let cpuResult = null;
  const endTimer = setTimeout(() => { if (cpu) cpuResult = cpu.finish(); }, (warmupS + measureS) * 1000);
  await Promise.all(
    senders.map(
      (i) =>
        new Promise((resolve) => {
          let n = 0;
          const loop = () => {
            if (now() >= gen.measureTo || !gen.conns[i].open) return resolve();
            gen.send(i, n++, recipients, (ack, latency, tSend) => {
              const tAck = tSend + latency;
              if (tSend >= gen.measureFrom && tAck <= gen.measureTo) ackLatency.push(latency);
              if (tAck >= gen.measureFrom && tAck <= gen.measureTo) acked++;
              loop();
            });
          };
          loop();
        }),
    ),
  );
  clearTimeout(cpuTimer);
  clearTimeout(endTimer);
  if (cpuResult === null && cpu) cpuResult = cpu.finish();
  return {
    messagesPerS: Math.round(acked / measureS),
    deliveriesPerS: Math.round((acked * recipients) / measureS),
    ackLatencyMs: quantiles(ackLatency),
    deliveryLatencyMs: quantiles(gen.deliveryLatency),
    ...(cpuResult || {}),
  };
}

async function scenarioDirect(gen) {
  const cfg = gen.cfg;
  const pairs = cfg.pairs;
  await gen.connectAll(0, pairs * 2, cfg.connectConcurrency || 100);
  const chats = groupsOf(pairs, 2);
  await setupChats(gen, chats, cfg.kind, "direct");
  const senders = chats.flat();
  const result = await closedLoop(gen, senders, 1, cfg.warmupS, cfg.measureS);
  const drained = await gen.drain(cfg.drainS * 1000);
  return { pairs, senders: senders.length, ...result, drained, ...gen.lossReport(chats) };
}

async function scenarioGroup(gen) {
  const cfg = gen.cfg;
  const size = cfg.groupSize;
  const chats = groupsOf(cfg.groups, size);
  await gen.connectAll(0, cfg.groups * size, cfg.connectConcurrency || 100);
  await setupChats(gen, chats, cfg.kind, "group");
  const senders = chats.flat();
  const recipients = size - 1;
  const ramp = cfg.ramp;
  const steps = [];
  let n = 0;
  let rr = 0;
  gen.onDelivery = (tSend, latency) => {
    for (let k = steps.length - 1; k >= 0; k--) {
      if (tSend >= steps[k].t0) {
        if (tSend < steps[k].t1) steps[k].lat.push(latency);
        return;
      }
    }
  };
  const runStep = async (rate) => {
    const step = { rate, t0: now(), t1: Infinity, lat: [], sent: 0, acked: 0, ackFailed: 0, ackLat: [] };
    steps.push(step);
    const errorsBefore = gen.errorTotal();
    const receivedBefore = gen.received;
    const cpu = new CpuWindow(cfg);
    const durationMs = ramp.stepS * 1000;
    const end = step.t0 + durationMs;
    while (now() < end) {
      const due = Math.floor((rate * (now() - step.t0)) / 1000) - step.sent;
      for (let k = 0; k < due; k++) {
        const i = senders[rr++ % senders.length];
        if (!gen.conns[i] || !gen.conns[i].open) continue;
        step.sent++;
        gen.send(i, n++, recipients, (ack, latency) => {
          if (ack && ack.ok) step.acked++;
          step.ackLat.push(latency);
        });
      }
      await sleep(2);
    }
    step.t1 = now();
    const cpuResult = cpu.finish();
    const drained = await gen.drain(ramp.drainS * 1000);
    const lat = quantiles(step.lat);
    const delivered = step.lat.length;
    const errors = gen.errorTotal() - errorsBefore;
    const pass =
      drained &&
      errors === 0 &&
      step.sent >= 0.97 * rate * ramp.stepS &&
      lat.p99 !== null &&
      lat.p99 < cfg.p99LimitMs &&
      delivered >= step.acked * recipients;
    const out = {
      offeredMessagesPerS: Math.round(rate),
      messagesPerS: Math.round(step.acked / ramp.stepS),
      deliveriesPerS: Math.round(delivered / ramp.stepS),
      deliveryLatencyMs: lat,
      ackLatencyMs: quantiles(step.ackLat),
      drained,
      errors,
      pass,
      ...cpuResult,
    };
    step.lat = [];
    step.ackLat = [];
    void receivedBefore;
    process.stderr.write(
      `  step ${Math.round(rate)} msg/s: ${out.deliveriesPerS} deliveries/s p99 ${lat.p99} ms ${pass ? "pass" : "FAIL"}\n`,
    );
    return out;
  };
  if (ramp.warmupS > 0) {
    // first sends warm caches (membership, prepared statements); not counted
    const stepS = ramp.stepS;
    ramp.stepS = ramp.warmupS;
    await runStep(ramp.startRate / 2);
    ramp.stepS = stepS;
    steps.length = 0;
    await sleep(ramp.pauseMs);
  }
  const results = [];
  let best = null;
  let fail = null;
  let rate = ramp.startRate;
  let descents = 0;
  for (let k = 0; k < ramp.maxSteps && rate <= ramp.maxRate; k++) {
    const r = await runStep(rate);
    results.push(r);
    if (!r.pass && best === null && descents < 5 && r.drained) {
      // the very first rate failed (a noisy neighbour, or a start too high): step down, bounded
      descents++;
      rate /= 2;
      await sleep(ramp.pauseMs);
      continue;
    }
    if (!r.pass) { fail = r; break; }
    best = r;
    rate *= ramp.factor;
    await sleep(ramp.pauseMs);
  }
  if (best && fail && ramp.refineSteps > 0 && fail.drained) {
    rate = best.offeredMessagesPerS * ramp.refineFactor;
    for (let k = 0; k < ramp.refineSteps && rate < fail.offeredMessagesPerS * 0.98; k++) {
      await sleep(ramp.pauseMs);
      const r = await runStep(rate);
      results.push(r);
      if (!r.pass) break;
      best = r;
      rate *= ramp.refineFactor;
    }
  }
  gen.onDelivery = null;
  const drained = await gen.drain(cfg.drainS * 1000);
  return {
    groups: cfg.groups,
    groupSize: size,
    connections: senders.length,
    best,
    bestDeliveriesPerS: best ? best.deliveriesPerS : 0,
    bestMessagesPerS: best ? best.messagesPerS : 0,
    steps: results,
    drained,
    ...gen.lossReport(chats),
  };
}

async function scenarioIdle(gen) {
  const cfg = gen.cfg;
  const pid = cfg.serverPids[0];
  const warm = cfg.warmConnections;
  await gen.connectAll(0, warm, cfg.connectConcurrency);
  await sleep(1000);
  const rss0 = procRssBytes(pid);
  const cpu = new CpuWindow(cfg);
  const t0 = now();
  // bounded: a server slower than connectBudgetS holds fewer connections, reported as `open`
  await gen.connectAll(warm, cfg.connections, cfg.connectConcurrency, t0 + (cfg.connectBudgetS || 120) * 1000);
  const connectS = (now() - t0) / 1000;
  let attempted = 0;
  for (let i = warm; i < cfg.connections; i++) if (gen.conns[i]) attempted++;
  const connectCpu = cpu.finish();
  await sleep(cfg.holdS * 1000);
  const rss1 = procRssBytes(pid);
  let open = 0;
  for (const c of gen.conns) if (c && c.open) open++;
  const added = Math.max(1, attempted);
  return {
    connections: cfg.connections,
    open,
    connectsPerS: Math.round(added / connectS),
    connectS: Math.round(connectS * 100) / 100,
    rssBeforeBytes: rss0,
    rssAfterBytes: rss1,
    bytesPerConnection: rss0 && rss1 ? Math.round((rss1 - rss0) / added) : null,
    kibPerConnection: rss0 && rss1 ? Math.round(((rss1 - rss0) / added / 1024) * 10) / 10 : null,
    holdS: cfg.holdS,
    lost: 0,
    duplicates: 0,
    ...connectCpu,
  };
}

async function scenarioHistory(gen) {
  const cfg = gen.cfg;
  const pairs = cfg.pairs;
  await gen.connectAll(0, pairs * 2, cfg.connectConcurrency || 100);
  const chats = groupsOf(pairs, 2);
  const ids = await setupChats(gen, chats, "ours", "direct");
  const senders = chats.flat();
  // prefill: every sender sends `prefill` messages so each history page is full
  await Promise.all(
    senders.map(async (i) => {
      for (let k = 0; k < cfg.prefill; k++) {
        await new Promise((resolve) => gen.send(i, -1 - k, 1, resolve));
      }
    }),
  );
  const httpLatency = [];
  let httpOk = 0;
  let stop = false;
  const readers = Array.from({ length: cfg.httpWorkers }, (_, w) => async () => {
    let k = w;
    while (!stop) {
      const ci = k++ % ids.length;
      const token = cfg.users[chats[ci][0]].token;
      const t = now();
      try {
        const res = await httpJson(cfg.httpBase, "GET", `/v1/chats/${encodeURIComponent(ids[ci])}/messages?limit=50`, token);
        if (res.status === 200 && JSON.parse(res.body).messages.length === 50) {
          if (t >= gen.measureFrom && t < gen.measureTo) { httpLatency.push(now() - t); httpOk++; }
        } else gen.errors.http++;
      } catch {
        gen.errors.http++;
      }
    }
  });
  const readersDone = Promise.all(readers.map((r) => r()));
  const result = await closedLoop(gen, senders, 1, cfg.warmupS, cfg.measureS);
  stop = true;
  await readersDone;
  const drained = await gen.drain(cfg.drainS * 1000);
  return {
    pairs,
    httpWorkers: cfg.httpWorkers,
    historyRequestsPerS: Math.round(httpOk / cfg.measureS),
    historyLatencyMs: quantiles(httpLatency),
    ...result,
    drained,
    ...gen.lossReport(chats),
  };
}

const SCENARIOS = { direct: scenarioDirect, group: scenarioGroup, idle: scenarioIdle, history: scenarioHistory };

async function main() {
  const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  if (cfg.usersFile) cfg.users = JSON.parse(fs.readFileSync(cfg.usersFile, "utf8"));
  for (const u of cfg.urls) {
    const host = new URL(u).hostname;
    if (host !== "127.0.0.1" && host !== "localhost") throw new Error("the benchmark only talks to 127.0.0.1");
  }
  const gen = new Generator(cfg);
  const hardStop = setTimeout(() => {
    process.stdout.write(JSON.stringify({ scenario: cfg.scenario, fatal: "time limit reached", errors: gen.errors }) + "\n");
    process.exit(3);
  }, cfg.timeLimitS * 1000);
  let result;
  try {
    result = await SCENARIOS[cfg.scenario](gen);
  } catch (e) {
    result = { fatal: String(e && e.stack ? e.stack : e) };
  }
  gen.closeAll();
  clearTimeout(hardStop);
  const out = {
    scenario: cfg.scenario,
    ...result,
    errors: gen.errorTotal(),
    errorDetail: gen.errors,
    orderViolations: gen.orderViolations,
    otherEvents: gen.otherEvents,
  };
  process.stdout.write(JSON.stringify(out) + "\n");
  setTimeout(() => process.exit(result.fatal ? 2 : 0), 100);
}

main();
