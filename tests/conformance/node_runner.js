#!/usr/bin/env node
/**
 * Runs ordering scenarios (see shared/conformance/FORMAT.md) under Node.js, the oracle.
 *
 *   node node_runner.js FILE.json [...]                  one JSON line per scenario:
 *                                                         {"name": ..., "log": [...]}
 *   node node_runner.js --write-expect FILE.json [...]   also store that log as `expect`,
 *                                                         and process.version in a file
 *                                                         NODE_VERSION beside them
 *
 * Every scenario runs in a fresh Node process (this file in `--child` mode, with
 * UV_THREADPOOL_SIZE set from the scenario), so that no timer, pool thread or clock
 * reading of one scenario can disturb the next. A scenario that fails prints
 * {"name": ..., "error": ...} instead, and the exit status is 1.
 *
 * Plain Node.js, no dependencies.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

/** The fields each op may have (beyond `op`); the first list is required, the second optional. */
const OP_FIELDS = {
  log: [['msg'], []],
  timeout: [['delay', 'body'], ['as']],
  interval: [['delay', 'times', 'body'], ['as']],
  immediate: [['body'], ['as']],
  tick: [['body'], []],
  microtask: [['body'], []],
  then: [['chain'], []],
  reject_catch: [['body'], []],
  adopt: [['body'], []],
  async: [['body'], []],
  await: [['what'], ['delay']],
  async_return_promise: [['body'], []],
  io: [['body'], []],
  clear: [['target'], []],
  // The extension ops of README.md: promise combinators and then/catch/finally chains.
  all: [['msg', 'inputs', 'body'], []],
  all_settled: [['msg', 'inputs', 'body'], []],
  race: [['msg', 'inputs', 'body'], []],
  any: [['msg', 'inputs', 'body'], []],
  chain: [['from', 'links'], []],
  // ... and ref / unref / refresh of a handle named by `as`.
  ref: [['target'], []],
  unref: [['target'], []],
  refresh: [['target'], []],
  // ... and a callback (or the main script) that keeps the thread busy for `ms`.
  block: [['ms'], []],
  // ... and network I/O on loopback (README.md, "Network ops"): `body` runs in one event.
  net_connection: [['body'], []],
  net_connect: [['body'], []],
  net_write: [['body'], []],
  net_data: [['body'], []],
  net_end: [['body'], []],
  net_close: [['body'], []],
  net_refused: [['body'], []],
  net_server_close: [['body'], []],
  udp_message: [['body'], []],
  udp_send: [['body'], []],
  lookup: [['body'], []],
  spawn_exit: [['body'], []],
  spawn_close: [['body'], []],
};
const AWAIT_KINDS = ['value', 'promise', 'thenable', 'sleep', 'immediate', 'rejected'];
/** A combinator's name in JavaScript. */
const COMBINATORS = { all: 'all', all_settled: 'allSettled', race: 'race', any: 'any' };
/** The input kinds of a combinator: the fields each needs beside `kind` and `value`. */
const INPUT_FIELDS = {
  value: [[], []],
  resolved: [[], ['after']],
  rejected: [[], ['after']],
  thenable: [[], []],
  sleep: [['delay'], []],
  sleep_reject: [['delay'], []],
  immediate: [[], []],
  never: [[], []],
};
const LINK_KINDS = ['then', 'catch', 'finally'];
/** What a chain link's handler may return (a resolved promise, a thenable, a rejected promise). */
const RETURN_KINDS = ['promise', 'thenable', 'rejected'];
const SCENARIO_KEYS = ['name', 'threadpool_size', 'program', 'expect'];

/** Throws an Error naming `where` unless `body` is a list of well-formed ops. */
function validateBody(body, where, insideAsync) {
  if (!Array.isArray(body)) throw new Error(`${where}: a body must be a list of ops`);
  body.forEach((op, index) => {
    const here = `${where}[${index}]`;
    const fields = OP_FIELDS[op && op.op];
    if (!fields) throw new Error(`${here}: unknown op ${JSON.stringify(op && op.op)}`);
    const [required, optional] = fields;
    for (const key of required) {
      if (!(key in op)) throw new Error(`${here}: ${op.op} needs "${key}"`);
    }
    for (const key of Object.keys(op)) {
      if (key !== 'op' && !required.includes(key) && !optional.includes(key)) {
        throw new Error(`${here}: ${op.op} has no field "${key}"`);
      }
    }
    if (op.op === 'await') {
      if (!insideAsync) throw new Error(`${here}: await outside an async body`);
      if (!AWAIT_KINDS.includes(op.what)) throw new Error(`${here}: cannot await ${op.what}`);
      if ((op.what === 'sleep') !== ('delay' in op)) {
        throw new Error(`${here}: "delay" goes with (and only with) await sleep`);
      }
    }
    if (op.op === 'then') {
      if (!Array.isArray(op.chain) || op.chain.length === 0) {
        throw new Error(`${here}: then needs a non-empty chain`);
      }
      op.chain.forEach((link, i) => validateBody(link, `${here}.chain[${i}]`, false));
    } else if (op.op === 'chain') {
      validateChain(op, here);
    } else if (op.op in COMBINATORS) {
      validateInputs(op.inputs, here);
      validateBody(op.body, `${here}.body`, false);
    } else if ('body' in op) {
      validateBody(op.body, `${here}.body`, op.op === 'async');
    }
  });
}

/** Throws unless `item` has the `required` keys and no others beyond `optional` and `extra`. */
function checkFields(item, [required, optional], kind, where, extra) {
  for (const key of required) {
    if (!(key in item)) throw new Error(`${where}: ${kind} needs "${key}"`);
  }
  for (const key of Object.keys(item)) {
    if (!extra.includes(key) && !required.includes(key) && !optional.includes(key)) {
      throw new Error(`${where}: ${kind} has no field "${key}"`);
    }
  }
}

/**
 * Whether a chain's last promise is fulfilled (else Node would report it unhandled): a `then`
 * link runs on fulfilment and passes a rejection on, `catch` the reverse, `finally` runs
 * either way and passes the state on; a link that runs and `throws` rejects.
 */
function chainEndsHandled(op) {
  let rejected = op.from === 'rejected';
  for (const link of op.links) {
    const runs = link.on === 'finally' || (link.on === 'then') !== rejected;
    if (runs && (link.throws || link.returns === 'rejected')) rejected = true;
    else if (runs && link.on !== 'finally') rejected = false;
  }
  return !rejected;
}

function validateChain(op, where) {
  if (op.from !== 'resolved' && op.from !== 'rejected') {
    throw new Error(`${where}: chain "from" is "resolved" or "rejected"`);
  }
  if (!Array.isArray(op.links) || op.links.length === 0) {
    throw new Error(`${where}: chain needs a non-empty links list`);
  }
  op.links.forEach((link, i) => {
    const here = `${where}.links[${i}]`;
    if (link === null || typeof link !== 'object') throw new Error(`${here}: a link is an object`);
    checkFields(link, [['on', 'body'], ['throws', 'returns']], 'link', here, []);
    if (!LINK_KINDS.includes(link.on)) throw new Error(`${here}: a link is on then, catch or finally`);
    if ('returns' in link && !RETURN_KINDS.includes(link.returns)) {
      throw new Error(`${here}: a link returns ${RETURN_KINDS.join(', ')}`);
    }
    if ('returns' in link && link.throws) throw new Error(`${here}: a link throws or returns, not both`);
    validateBody(link.body, `${here}.body`, false);
  });
  if (!chainEndsHandled(op)) throw new Error(`${where}: the chain ends rejected (unhandled)`);
}

function validateInputs(inputs, where) {
  if (!Array.isArray(inputs)) throw new Error(`${where}: inputs must be a list`);
  inputs.forEach((item, i) => {
    const here = `${where}.inputs[${i}]`;
    const fields = INPUT_FIELDS[item && item.kind];
    if (!fields) throw new Error(`${here}: unknown input kind ${JSON.stringify(item && item.kind)}`);
    checkFields(item, fields, item.kind, here, ['kind', 'value']);
    if (typeof item.value !== 'string') throw new Error(`${here}: an input needs a string "value"`);
  });
}

/** Reads and checks one scenario file. */
function loadScenario(file) {
  const scenario = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const key of Object.keys(scenario)) {
    if (!SCENARIO_KEYS.includes(key)) throw new Error(`${file}: unknown key "${key}"`);
  }
  if (typeof scenario.name !== 'string') throw new Error(`${file}: "name" must be a string`);
  validateBody(scenario.program, `${file}: program`, false);
  return scenario;
}

/** A combinator's value or reason as text: labels as they are, lists in brackets. */
function render(value) {
  if (typeof value === 'string') return value;
  if (value instanceof AggregateError) return `AggregateError[${value.errors.map(render).join(',')}]`;
  if (Array.isArray(value)) return `[${value.map(render).join(',')}]`;
  if (value !== null && typeof value === 'object' && value.status === 'fulfilled') {
    return `fulfilled ${render(value.value)}`;
  }
  if (value !== null && typeof value === 'object' && value.status === 'rejected') {
    return `rejected ${render(value.reason)}`;
  }
  throw new Error(`cannot render ${String(value)}`);
}

/** A port nothing listens on (a refused connect): the TCP port service 1 never runs here. */
const REFUSED_PORT = 1;

/**
 * A network op (README.md, "Network ops"): a loopback server and a client whose one event
 * runs `body`. The client starts in the server's `listen` callback, where Node first knows
 * the port; everything else closes quietly once the event has run.
 */
function runNet(kind, body) {
  const net = require('net');
  const quiet = () => {};
  if (kind === 'net_refused') {
    net.connect(REFUSED_PORT, '127.0.0.1').on('error', body);
    return;
  }
  const server = net.createServer((socket) => {
    socket.on('error', quiet);
    if (kind === 'net_connection') body();
    if (kind === 'net_end') socket.end('bye');
    else socket.on('data', (data) => socket.write(data));
    server.close(kind === 'net_server_close' ? body : undefined);
  });
  server.listen(0, '127.0.0.1', () => {
    const client = net.connect(server.address().port, '127.0.0.1');
    client.on('error', quiet);
    client.on('connect', () => {
      if (kind === 'net_connect') body();
      if (kind === 'net_close') {
        client.on('close', body);
        client.destroy();
      } else if (kind === 'net_write') {
        client.write('ping', body);
      } else if (kind === 'net_data') {
        client.on('data', () => {
          body();
          client.destroy();
        });
        client.write('ping');
      } else if (kind === 'net_end') {
        client.on('end', body);
        client.resume();
      } else {
        client.destroy();
      }
    });
    if (kind === 'net_write') client.on('data', () => client.destroy());
  });
}

/**
 * A UDP op (README.md, "Network ops"): a socket bound on loopback and a second one sending it
 * "ping"; `body` runs in the receiver's "message" or in the sender's send callback.
 */
function runUdp(kind, body) {
  const dgram = require('dgram');
  const receiver = dgram.createSocket('udp4');
  receiver.on('message', () => {
    if (kind === 'udp_message') body();
    receiver.close();
  });
  receiver.bind(0, '127.0.0.1', () => {
    const sender = dgram.createSocket('udp4');
    sender.send('ping', receiver.address().port, '127.0.0.1', () => {
      if (kind === 'udp_send') body();
      sender.close();
    });
  });
}

/**
 * Runs `program` as the main script of this process; returns the log array, which keeps
 * filling while the event loop runs.
 */
function startProgram(program) {
  const timersPromises = require('timers/promises');
  const log = [];
  const handles = new Map(); // `as` name -> {kind, handle}; a later op with the same name wins

  const runBody = (body) => {
    for (const op of body) runOp(op);
  };
  const remember = (op, kind, handle) => {
    if (op.as !== undefined) handles.set(op.as, { kind, handle });
  };
  const awaited = (op) => {
    switch (op.what) {
      case 'value': return 1;
      case 'promise': return Promise.resolve();
      case 'thenable': return { then(resolve) { resolve(); } };
      case 'sleep': return timersPromises.setTimeout(op.delay);
      case 'immediate': return timersPromises.setImmediate();
      case 'rejected': return Promise.reject(new Error('rejected'));
    }
    throw new Error(`cannot await ${op.what}`);
  };
  // One input of a combinator (README.md, "Extension ops"); reasons are the label itself.
  const input = (spec) => {
    const value = spec.value;
    switch (spec.kind) {
      case 'value': return value;
      case 'resolved':
      case 'rejected': {
        const after = spec.after === undefined ? 0 : spec.after;
        if (after === 0) return spec.kind === 'resolved' ? Promise.resolve(value) : Promise.reject(value);
        let promise = Promise.resolve();
        for (let i = 0; i < after - 1; i++) promise = promise.then(() => {});
        return promise.then(() => {
          if (spec.kind === 'rejected') throw value;
          return value;
        });
      }
      case 'thenable': return { then(resolve) { resolve(value); } };
      case 'sleep': return timersPromises.setTimeout(spec.delay, value);
      case 'sleep_reject': return new Promise((_, reject) => setTimeout(() => reject(value), spec.delay));
      case 'immediate': return timersPromises.setImmediate(value);
      case 'never': return new Promise(() => {});
    }
    throw new Error(`unknown input kind ${spec.kind}`);
  };

  function runOp(op) {
    switch (op.op) {
      case 'log':
        log.push(op.msg);
        break;
      case 'timeout':
        remember(op, 'timer', setTimeout(() => runBody(op.body), op.delay));
        break;
      case 'interval': {
        let runs = 0;
        const interval = setInterval(() => {
          runs += 1;
          runBody(op.body);
          if (runs >= op.times) clearInterval(interval);
        }, op.delay);
        remember(op, 'timer', interval);
        break;
      }
      case 'immediate':
        remember(op, 'immediate', setImmediate(() => runBody(op.body)));
        break;
      case 'tick':
        process.nextTick(() => runBody(op.body));
        break;
      case 'microtask':
        queueMicrotask(() => runBody(op.body));
        break;
      case 'then': {
        let promise = Promise.resolve();
        for (const link of op.chain) promise = promise.then(() => runBody(link));
        break;
      }
      case 'reject_catch':
        Promise.reject(new Error('rejected')).catch(() => runBody(op.body));
        break;
      case 'adopt':
        new Promise((resolve) => resolve(Promise.resolve())).then(() => runBody(op.body));
        break;
      case 'async':
        // Each `await` is a real await at the same point of a real async function, so the
        // microtask counts are JavaScript's own.
        (async () => {
          for (const inner of op.body) {
            if (inner.op !== 'await') {
              runOp(inner);
            } else if (inner.what === 'rejected') {
              try {
                await awaited(inner);
              } catch (error) {
                // awaiting a rejection throws here; the function goes on
              }
            } else {
              await awaited(inner);
            }
          }
        })();
        break;
      case 'async_return_promise':
        (async () => Promise.resolve())().then(() => runBody(op.body));
        break;
      case 'io':
        // One thread-pool request whose callback runs in the poll phase.
        fs.stat(__filename, () => runBody(op.body));
        break;
      case 'clear': {
        const named = handles.get(op.target);
        if (named === undefined) throw new Error(`clear: no handle named ${op.target}`);
        if (named.kind === 'immediate') clearImmediate(named.handle);
        else clearTimeout(named.handle); // clears an interval too
        break;
      }
      case 'block': {
        // Busy, as a slow callback is: the loop's clock goes on, nothing else runs.
        const end = performance.now() + op.ms;
        while (performance.now() < end);
        break;
      }
      case 'ref':
      case 'unref':
      case 'refresh': {
        const named = handles.get(op.target);
        if (named === undefined) throw new Error(`${op.op}: no handle named ${op.target}`);
        if (op.op === 'refresh' && named.kind !== 'timer') throw new Error('refresh: not a timer');
        named.handle[op.op]();
        break;
      }
      case 'chain': {
        let promise = op.from === 'resolved' ? Promise.resolve() : Promise.reject(new Error('rejected'));
        for (const link of op.links) {
          const handler = () => {
            runBody(link.body);
            if (link.throws) throw new Error('thrown');
            if (link.returns === 'promise') return Promise.resolve();
            if (link.returns === 'thenable') return { then(resolve) { resolve(); } };
            if (link.returns === 'rejected') return Promise.reject(new Error('returned'));
            return undefined;
          };
          if (link.on === 'then') promise = promise.then(handler);
          else if (link.on === 'catch') promise = promise.catch(handler);
          else promise = promise.finally(handler);
        }
        break;
      }
      case 'all':
      case 'all_settled':
      case 'race':
      case 'any': {
        const settled = (status) => (value) => {
          log.push(`${op.msg}: ${status} ${render(value)}`);
          runBody(op.body);
        };
        Promise[COMBINATORS[op.op]](op.inputs.map(input)).then(settled('fulfilled'), settled('rejected'));
        break;
      }
      case 'net_connection':
      case 'net_connect':
      case 'net_write':
      case 'net_data':
      case 'net_end':
      case 'net_close':
      case 'net_refused':
      case 'net_server_close':
        runNet(op.op, () => runBody(op.body));
        break;
      case 'udp_message':
      case 'udp_send':
        runUdp(op.op, () => runBody(op.body));
        break;
      case 'spawn_exit':
      case 'spawn_close': {
        // A child that writes one byte and exits; its stdout is read, so "close" waits for it.
        const child = require('child_process').spawn('sh', ['-c', 'printf x']);
        child.stdout.on('data', () => {});
        child.on(op.op === 'spawn_exit' ? 'exit' : 'close', () => runBody(op.body));
        break;
      }
      case 'lookup':
        require('dns').lookup('localhost', { all: true }, () => runBody(op.body));
        break;
      default:
        throw new Error(`unknown op ${op.op}`);
    }
  }

  runBody(program);
  return log;
}

/** Child mode: run one scenario as this process's main script, print its log at exit. */
function runChild(file) {
  const scenario = loadScenario(file);
  const log = startProgram(scenario.program);
  process.on('exit', (code) => {
    // writeSync: the loop is over, and the parent must get the whole line.
    if (code === 0) fs.writeSync(1, JSON.stringify(log) + '\n');
  });
}

/** Runs one scenario file in a fresh Node process; returns {name, log} or {name, error}. */
function runInFreshProcess(file) {
  let scenario;
  try {
    scenario = loadScenario(file);
  } catch (error) {
    return { name: path.basename(file, '.json'), error: error.message };
  }
  const threadpoolSize = scenario.threadpool_size === undefined ? 1 : scenario.threadpool_size;
  const child = spawnSync(process.execPath, [__filename, '--child', file], {
    env: { ...process.env, UV_THREADPOOL_SIZE: String(threadpoolSize) },
    encoding: 'utf8',
    timeout: 60000,
  });
  if (child.error || child.status !== 0) {
    const why = child.error ? child.error.message : `exit status ${child.status}`;
    return { name: scenario.name, error: `${why}: ${child.stderr.trim()}` };
  }
  return { name: scenario.name, log: JSON.parse(child.stdout) };
}

const WIDTH = 100;

/** JSON on one line, spaced like Python's json.dumps (", " and ": "). */
function compactJson(value) {
  if (Array.isArray(value)) return `[${value.map(compactJson).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${compactJson(v)}`);
    return `{${fields.join(', ')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Scenario JSON as the files keep it: a value that fits in WIDTH columns stays on one line;
 * an op too long for one line keeps its scalar fields on the first line and lists its body
 * one op per line. fuzz_gen.py has the same layout (format_scenario), so files written by
 * either side look alike.
 */
function prettyJson(value, indent) {
  const flat = compactJson(value);
  if (value === null || typeof value !== 'object' || indent + flat.length <= WIDTH) return flat;
  if (Array.isArray(value)) return expandedList(value, indent);
  const entries = Object.entries(value);
  const [lastKey, lastValue] = entries[entries.length - 1];
  const leading = entries.slice(0, -1);
  if (Array.isArray(lastValue) && leading.every(([, v]) => v === null || typeof v !== 'object')) {
    const head = leading.map(([k, v]) => `${JSON.stringify(k)}: ${compactJson(v)}, `).join('');
    return `{${head}${JSON.stringify(lastKey)}: ${expandedList(lastValue, indent)}}`;
  }
  const pad = ' '.repeat(indent + 2);
  const lines = entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${prettyJson(v, indent + 2)}`);
  return `{\n${lines.join(',\n')}\n${' '.repeat(indent)}}`;
}

function expandedList(list, indent) {
  if (list.length === 0) return '[]';
  const pad = ' '.repeat(indent + 2);
  return `[\n${list.map((item) => pad + prettyJson(item, indent + 2)).join(',\n')}\n${' '.repeat(indent)}]`;
}

/** The whole file: one key per line, the program one op per line. */
function formatScenario(scenario) {
  const lines = [];
  for (const key of SCENARIO_KEYS) {
    if (!(key in scenario)) continue;
    const value = key === 'program' ? expandedList(scenario.program, 2) : prettyJson(scenario[key], 2);
    lines.push(`  ${JSON.stringify(key)}: ${value}`);
  }
  return `{\n${lines.join(',\n')}\n}\n`;
}

/** --write-expect: run each scenario twice, and store the log only when both runs agree. */
function writeExpect(files) {
  let failed = false;
  for (const file of files) {
    const first = runInFreshProcess(file);
    const second = first.error ? first : runInFreshProcess(file);
    if (first.error || second.error) {
      console.log(JSON.stringify({ name: first.name, error: first.error || second.error }));
      failed = true;
      continue;
    }
    if (JSON.stringify(first.log) !== JSON.stringify(second.log)) {
      console.log(JSON.stringify({ name: first.name, error: 'unfair: two runs differ', logs: [first.log, second.log] }));
      failed = true;
      continue;
    }
    const scenario = JSON.parse(fs.readFileSync(file, 'utf8'));
    scenario.expect = first.log;
    fs.writeFileSync(file, formatScenario(scenario));
    console.log(JSON.stringify(first));
  }
  // Each folder of scenarios records the Node that wrote its expects.
  for (const folder of new Set(files.map((file) => path.dirname(path.resolve(file))))) {
    fs.writeFileSync(path.join(folder, 'NODE_VERSION'), `${process.version}\n`);
  }
  return failed ? 1 : 0;
}

function main(argv) {
  if (argv[0] === '--child') {
    runChild(argv[1]);
    return;
  }
  const write = argv[0] === '--write-expect';
  const files = write ? argv.slice(1) : argv;
  if (files.length === 0 || files.some((f) => f.startsWith('--'))) {
    console.error('usage: node node_runner.js [--write-expect] FILE.json [...]');
    process.exitCode = 2;
    return;
  }
  if (write) {
    process.exitCode = writeExpect(files);
    return;
  }
  let failed = false;
  for (const file of files) {
    const result = runInFreshProcess(file);
    if (result.error) failed = true;
    console.log(JSON.stringify(result));
  }
  process.exitCode = failed ? 1 : 0;
}

main(process.argv.slice(2));
