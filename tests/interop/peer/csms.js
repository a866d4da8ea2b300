#!/usr/bin/env node
/*
 * Independent strict OCPP CSMS peer for interop tests.
 *
 * Protocol validation is done entirely by npm `ocpp-rpc` (strict mode, OCA JSON
 * schemas); this script only wires it up, answers station-initiated calls with
 * minimal schema-valid responses and reports everything it sees as JSON lines.
 *
 * stdout: one JSON object per line. The first line is always
 *         {"event":"listening","port":N,...}.
 * stdin:  one JSON command per line (see README section in tests/interop/peer.py).
 * stderr: diagnostics only (Ajv prints strict-types warnings there); drain it.
 *
 * Usage: node csms.js [--protocols ocpp1.6,ocpp2.0.1,ocpp2.1] [--host 127.0.0.1] [--port 0]
 *                     [--auth-station ID] [--auth-password PW]
 *                     [--boot-statuses Pending,Accepted] [--interval 300]
 *                     [--no-state-checks] [--selfcheck]
 * Environment fallbacks: PEER_PROTOCOLS, PEER_HOST, PEER_PORT, PEER_AUTH_STATION,
 *                        PEER_AUTH_PASSWORD, PEER_BOOT_STATUSES, PEER_INTERVAL.
 */
'use strict';

const readline = require('readline');
const { RPCServer, createValidator, TimeoutError, RPCError } = require('ocpp-rpc');

const ALL_PROTOCOLS = ['ocpp1.6', 'ocpp2.0.1', 'ocpp2.1'];

// ---------------------------------------------------------------- options

function parseArgs(argv, env) {
    const opts = {
        protocols: (env.PEER_PROTOCOLS || ALL_PROTOCOLS.join(',')),
        host: env.PEER_HOST || '127.0.0.1',
        port: env.PEER_PORT || '0',
        authStation: env.PEER_AUTH_STATION || null,
        authPassword: env.PEER_AUTH_PASSWORD || null,
        bootStatuses: env.PEER_BOOT_STATUSES || 'Accepted',
        interval: env.PEER_INTERVAL || '300',
        stateChecks: true,
        selfcheck: false,
    };
    const valueFlags = {
        '--protocols': 'protocols', '--host': 'host', '--port': 'port',
        '--auth-station': 'authStation', '--auth-password': 'authPassword',
        '--boot-statuses': 'bootStatuses', '--interval': 'interval',
    };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const eq = arg.indexOf('=');
        const flag = eq > 0 ? arg.slice(0, eq) : arg;
        if (flag in valueFlags) {
            const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
            if (value === undefined) throw Error(`missing value for ${flag}`);
            opts[valueFlags[flag]] = value;
        } else if (flag === '--no-state-checks') {
            opts.stateChecks = false;
        } else if (flag === '--selfcheck') {
            opts.selfcheck = true;
        } else {
            throw Error(`unknown argument: ${arg}`);
        }
    }
    opts.protocols = opts.protocols.split(',').map(s => s.trim()).filter(Boolean);
    for (const p of opts.protocols) {
        if (!ALL_PROTOCOLS.includes(p)) throw Error(`unsupported protocol ${p}`);
    }
    if (!opts.protocols.length) throw Error('no protocols configured');
    opts.port = Number(opts.port);
    opts.interval = Number(opts.interval);
    opts.bootStatuses = opts.bootStatuses.split(',').map(s => s.trim()).filter(Boolean);
    for (const s of opts.bootStatuses) {
        if (!['Accepted', 'Pending', 'Rejected'].includes(s)) throw Error(`bad boot status ${s}`);
    }
    return opts;
}

// ------------------------------------------------------------- validators

/*
 * ocpp-rpc 2.2.1 looks schemas up as `urn:<Action>.req` / `urn:<Action>.conf`, but its bundled
 * OCPP 2.1 schemas are keyed `urn:<Action>Request` / `urn:<Action>Response` (and the SEND-only
 * `urn:NotifyPeriodicEventStream`). Re-key a private copy and hand it in as the 2.1 validator.
 */
function rekeyedOcpp21Schemas() {
    const bundled = require('ocpp-rpc/lib/schemas/ocpp2_1.json');
    return structuredClone(bundled).map(schema => {
        const id = schema.$id || '';
        let m;
        if (/\.(req|conf)$/.test(id)) {
            // already in the lookup form (fixed upstream)
        } else if ((m = /^urn:(\w+)Request$/.exec(id))) {
            schema.$id = `urn:${m[1]}.req`;
        } else if ((m = /^urn:(\w+)Response$/.exec(id))) {
            schema.$id = `urn:${m[1]}.conf`;
        } else if ((m = /^urn:(\w+)$/.exec(id))) {
            schema.$id = `urn:${m[1]}.req`;
        }
        return schema;
    });
}

let ocpp21Validator = null;
function strictValidators(protocols) {
    if (!protocols.includes('ocpp2.1')) return [];
    if (!ocpp21Validator) ocpp21Validator = createValidator('ocpp2.1', rekeyedOcpp21Schemas());
    return [ocpp21Validator];
}

function validatorFor(protocol) {
    if (protocol === 'ocpp2.1') return strictValidators(['ocpp2.1'])[0];
    const file = protocol === 'ocpp1.6' ? 'ocpp1_6.json' : 'ocpp2_0_1.json';
    return createValidator(protocol, require(`ocpp-rpc/lib/schemas/${file}`));
}

// -------------------------------------------------------------- responses

const nowIso = () => new Date().toISOString();
const inOneDayIso = () => new Date(Date.now() + 86400e3).toISOString();

class Handlers {
    constructor(opts) {
        this.opts = opts;
        this.nextTransactionId = 1;
        this.bootCount = new Map(); // station -> number of BootNotifications answered
    }

    bootStatusFor(station) {
        const n = this.bootCount.get(station) || 0;
        this.bootCount.set(station, n + 1);
        const seq = this.opts.bootStatuses;
        return seq[Math.min(n, seq.length - 1)];
    }

    boot(station) {
        return { status: this.bootStatusFor(station), currentTime: nowIso(), interval: this.opts.interval };
    }

    // OCPP 1.6 (incl. the security whitepaper extension), station -> CSMS
    v16(station, action, p) {
        const accepted = { status: 'Accepted' };
        switch (action) {
            case 'BootNotification': return this.boot(station);
            case 'Heartbeat': return { currentTime: nowIso() };
            case 'Authorize': return { idTagInfo: { status: 'Accepted' } };
            case 'StartTransaction':
                return { transactionId: this.nextTransactionId++, idTagInfo: { status: 'Accepted' } };
            case 'StopTransaction':
                return p && p.idTag ? { idTagInfo: { status: 'Accepted' } } : {};
            case 'StatusNotification':
            case 'MeterValues':
            case 'DiagnosticsStatusNotification':
            case 'FirmwareStatusNotification':
            case 'SecurityEventNotification':
            case 'LogStatusNotification':
            case 'SignedFirmwareStatusNotification':
                return {};
            case 'DataTransfer': return accepted;
            case 'SignCertificate': return accepted;
            default: return undefined;
        }
    }

    // OCPP 2.0.1 and 2.1, station -> CSMS (2.1-only actions are gated on the protocol)
    v2(station, action, p, protocol) {
        const is21 = protocol === 'ocpp2.1';
        const accepted = { status: 'Accepted' };
        switch (action) {
            case 'BootNotification': return this.boot(station);
            case 'Heartbeat': return { currentTime: nowIso() };
            case 'Authorize': return { idTokenInfo: { status: 'Accepted' } };
            case 'TransactionEvent':
                return p && p.idToken ? { idTokenInfo: { status: 'Accepted' } } : {};
            case 'StatusNotification':
            case 'MeterValues':
            case 'NotifyReport':
            case 'NotifyEvent':
            case 'NotifyMonitoringReport':
            case 'NotifyChargingLimit':
            case 'ClearedChargingLimit':
            case 'NotifyCustomerInformation':
            case 'NotifyDisplayMessages':
            case 'ReportChargingProfiles':
            case 'ReservationStatusUpdate':
            case 'SecurityEventNotification':
            case 'FirmwareStatusNotification':
            case 'LogStatusNotification':
            case 'PublishFirmwareStatusNotification':
                return {};
            case 'DataTransfer': return accepted;
            case 'SignCertificate': return accepted;
            case 'NotifyEVChargingNeeds': return accepted;
            case 'NotifyEVChargingSchedule': return accepted;
            case 'GetCertificateStatus': return { status: 'Failed' };
            case 'Get15118EVCertificate': return { status: 'Failed', exiResponse: '' };
        }
        if (!is21) return undefined;
        switch (action) {
            case 'PullDynamicScheduleUpdate': return { status: 'Rejected' };
            case 'OpenPeriodicEventStream': return accepted;
            case 'VatNumberValidation':
                return { vatNumber: String((p && p.vatNumber) || ''), status: 'Rejected' };
            case 'GetCertificateChainStatus':
                return {
                    certificateStatus: ((p && p.certificateStatusRequests) || []).map(r => ({
                        certificateHashData: r.certificateHashData,
                        source: r.source,
                        status: 'Unknown',
                        nextUpdate: inOneDayIso(),
                    })),
                };
            case 'BatterySwap':
            case 'ClosePeriodicEventStream':
            case 'NotifyDERAlarm':
            case 'NotifyDERStartStop':
            case 'NotifyPriorityCharging':
            case 'NotifySettlement':
            case 'ReportDERControl':
                return {};
            default: return undefined;
        }
    }

    respond(station, protocol, action, params) {
        return protocol === 'ocpp1.6'
            ? this.v16(station, action, params)
            : this.v2(station, action, params, protocol);
    }
}

// Sample requests for --selfcheck where the default response depends on the request.
const SELFCHECK_REQUESTS = {
    StopTransaction: { idTag: 'TAG1', meterStop: 0, timestamp: '2024-01-01T00:00:00Z', transactionId: 1 },
    TransactionEvent: { idToken: { idToken: 'TAG1', type: 'ISO14443' } },
    VatNumberValidation: { vatNumber: 'DE123456789' },
    GetCertificateChainStatus: {
        certificateStatusRequests: [{
            certificateHashData: { hashAlgorithm: 'SHA256', issuerNameHash: 'a', issuerKeyHash: 'b', serialNumber: '1' },
            source: 'OCSP', urls: ['http://127.0.0.1/ocsp'],
        }],
    },
};
const SELFCHECK_ACTIONS = {
    'ocpp1.6': ['Authorize', 'BootNotification', 'DataTransfer', 'DiagnosticsStatusNotification',
        'FirmwareStatusNotification', 'Heartbeat', 'MeterValues', 'StartTransaction', 'StatusNotification',
        'StopTransaction', 'SecurityEventNotification', 'SignCertificate', 'LogStatusNotification',
        'SignedFirmwareStatusNotification'],
    'ocpp2.0.1': ['Authorize', 'BootNotification', 'ClearedChargingLimit', 'DataTransfer',
        'FirmwareStatusNotification', 'Get15118EVCertificate', 'GetCertificateStatus', 'Heartbeat',
        'LogStatusNotification', 'MeterValues', 'NotifyChargingLimit', 'NotifyCustomerInformation',
        'NotifyDisplayMessages', 'NotifyEVChargingNeeds', 'NotifyEVChargingSchedule', 'NotifyEvent',
        'NotifyMonitoringReport', 'NotifyReport', 'PublishFirmwareStatusNotification', 'ReportChargingProfiles',
        'ReservationStatusUpdate', 'SecurityEventNotification', 'SignCertificate', 'StatusNotification',
        'TransactionEvent'],
};
SELFCHECK_ACTIONS['ocpp2.1'] = [...SELFCHECK_ACTIONS['ocpp2.0.1'], 'BatterySwap', 'ClosePeriodicEventStream',
    'GetCertificateChainStatus', 'NotifyDERAlarm', 'NotifyDERStartStop', 'NotifyPriorityCharging',
    'NotifySettlement', 'OpenPeriodicEventStream', 'PullDynamicScheduleUpdate', 'ReportDERControl',
    'VatNumberValidation'];

function selfcheck(opts) {
    const handlers = new Handlers(opts);
    let failures = 0;
    let checked = 0;
    for (const protocol of opts.protocols) {
        const validator = validatorFor(protocol);
        for (const action of SELFCHECK_ACTIONS[protocol]) {
            const params = SELFCHECK_REQUESTS[action] || {};
            const response = handlers.respond('SELFCHECK', protocol, action, params);
            checked++;
            try {
                if (response === undefined) throw Error('no handler');
                validator.validate(`urn:${action}.conf`, response);
            } catch (err) {
                failures++;
                emit({ event: 'selfcheck_failure', protocol, action, response, error: errorInfo(err) });
            }
        }
    }
    emit({ event: 'selfcheck', ok: failures === 0, checked, failures });
    return failures === 0 ? 0 : 1;
}

// ----------------------------------------------------------------- output

function emit(obj) {
    obj.ts = Date.now() / 1000;
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function errorInfo(err) {
    if (!err) return null;
    let code = 'GenericError';
    if (err instanceof RPCError || err.rpcErrorCode) code = err.rpcErrorCode;
    else if (err instanceof TimeoutError) code = 'Timeout';
    else if (err.name === 'AbortError') code = 'Aborted';
    else if (err.code && typeof err.code === 'string') code = err.code;
    const info = { code, message: err.message || err.rpcErrorMessage || String(err) };
    if (err.details && Object.keys(err.details).length) info.details = err.details;
    return info;
}

// 2.x TriggerMessage requestedMessage values that are not action names.
const TRIGGER_ALIASES = {
    SignChargingStationCertificate: 'SignCertificate',
    SignV2GCertificate: 'SignCertificate',
    SignCombinedCertificate: 'SignCertificate',
};

// ------------------------------------------------------------------- peer

class Peer {
    constructor(opts) {
        this.opts = opts;
        this.handlers = new Handlers(opts);
        this.clients = new Map(); // station -> RPCServerClient (latest connection)
        this.connCounter = 0;
        this.overrides = [];      // [{station, action, payload|error, once}]
        this.bootState = new Map(); // station -> last boot status answered (this process)
        this.triggered = new Map(); // station -> Set of actions a TriggerMessage allowed
        this.server = new RPCServer({
            protocols: opts.protocols,
            strictMode: true,
            strictModeValidators: strictValidators(opts.protocols),
            respondWithDetailedErrors: false,
        });
        this.server.auth(this.auth.bind(this));
        this.server.on('client', this.onClient.bind(this));
        this.server.on('upgradeAborted', ({ error, identity }) => {
            emit({ event: 'upgrade_aborted', station: identity, error: errorInfo(error) });
        });
        this.server.on('error', err => emit({ event: 'server_error', error: errorInfo(err) }));
    }

    auth(accept, reject, handshake) {
        const station = handshake.identity;
        const offered = [...handshake.protocols];
        if (!offered.length) {
            emit({
                event: 'violation', station, direction: 'inbound', kind: 'handshake', source: 'peer', culprit: 'station',
                error: { code: 'NoSubprotocol', message: 'station offered no Sec-WebSocket-Protocol' },
            });
            emit({ event: 'handshake_rejected', station, offered, reason: 'no subprotocol offered' });
            return reject(400, 'No subprotocol offered');
        }
        const protocol = this.opts.protocols.find(p => handshake.protocols.has(p));
        if (!protocol) {
            emit({ event: 'handshake_rejected', station, offered, reason: 'no mutual subprotocol' });
            return reject(400, 'No mutual subprotocol');
        }
        if (this.opts.authStation !== null && station !== this.opts.authStation) {
            emit({ event: 'auth_failed', station, reason: 'unknown station identity' });
            return reject(404, 'Unknown station');
        }
        if (this.opts.authPassword !== null) {
            const got = handshake.password ? handshake.password.toString('utf8') : null;
            if (got === null) {
                emit({ event: 'auth_failed', station, reason: 'missing or malformed Basic credentials' });
                return reject(401, 'Unauthorized');
            }
            if (got !== this.opts.authPassword) {
                emit({ event: 'auth_failed', station, reason: 'wrong password' });
                return reject(401, 'Unauthorized');
            }
        }
        accept({ station }, protocol);
    }

    onClient(client) {
        const station = client.identity;
        const protocol = client.protocol;
        const previous = this.clients.get(station);
        const conn = ++this.connCounter;
        this.clients.set(station, client);
        const inbound = new Map();  // msgId -> action of station-initiated calls
        const outbound = new Map(); // msgId -> action of CSMS-initiated calls
        emit({
            event: 'connected', station, protocol, conn,
            remote: client.handshake.remoteAddress,
            offered: [...client.handshake.protocols],
            replaced_existing: Boolean(previous),
        });

        client.on('message', ({ message, outbound: isOut }) => {
            const raw = typeof message === 'string' ? message : message.toString('utf8');
            const frame = { event: 'frame', station, conn, dir: isOut ? 'out' : 'in', raw };
            let parsed;
            try { parsed = JSON.parse(raw); } catch (e) { parsed = null; }
            if (Array.isArray(parsed) && typeof parsed[0] === 'number') {
                const [type, id] = parsed;
                frame.type = type;
                frame.message_id = id;
                if (type === 2) {
                    frame.action = parsed[2];
                    frame.payload = parsed[3];
                    (isOut ? outbound : inbound).set(id, parsed[2]);
                } else if (type === 3 || type === 4) {
                    const calls = isOut ? inbound : outbound;
                    if (calls.has(id)) frame.action = calls.get(id);
                    if (type === 3) frame.payload = parsed[2];
                    else frame.error = { code: parsed[2], message: parsed[3], details: parsed[4] };
                }
            }
            emit(frame);
            if (!isOut && frame.type === 2) this.checkState(station, frame);
        });

        client.on('strictValidationFailure', ({ messageId, method, params, result, error, outbound: isOut, isCall }) => {
            emit({
                event: 'violation', station, protocol, source: 'ocpp-rpc',
                direction: isOut ? 'outbound' : 'inbound',
                kind: isCall ? 'call' : 'result',
                // who broke the schema: inbound frames come from the station, outbound from this peer
                culprit: isOut ? 'csms' : 'station',
                action: method, message_id: messageId,
                payload: isCall ? params : result,
                error: errorInfo(error),
            });
        });

        client.on('badMessage', ({ buffer, error, response }) => {
            const raw = buffer ? buffer.toString('utf8') : null;
            let type = null;
            try { type = JSON.parse(raw)[0]; } catch (e) { /* unparseable */ }
            const gap = protocol === 'ocpp2.1' && (type === 5 || type === 6);
            emit({
                event: gap ? 'peer_gap' : 'violation', station, protocol, direction: 'inbound',
                kind: 'bad_message', source: 'ocpp-rpc', culprit: 'station', raw, error: errorInfo(error), response,
                ...(gap ? { note: 'ocpp-rpc 2.2.1 does not implement OCPP 2.1 message types 5/6' } : {}),
            });
        });

        client.on('disconnect', ({ code, reason }) => {
            emit({ event: 'disconnected', station, protocol, conn, code, reason: String(reason || '') });
            if (this.clients.get(station) === client) this.clients.delete(station);
        });
        client.on('socketError', err => emit({ event: 'socket_error', station, error: errorInfo(err) }));

        client.handle(({ method, params }) => this.onCall(station, client, method, params));
    }

    checkState(station, frame) {
        if (!this.opts.stateChecks || frame.action === 'BootNotification') return;
        const status = this.bootState.get(station);
        if (status !== 'Pending' && status !== 'Rejected') return;
        const allowed = this.triggered.get(station);
        if (status === 'Pending' && allowed && allowed.has(frame.action)) {
            allowed.delete(frame.action);
            return;
        }
        emit({
            event: 'violation', station, direction: 'inbound', kind: 'state', source: 'peer', culprit: 'station',
            action: frame.action, message_id: frame.message_id, payload: frame.payload,
            error: {
                code: 'SecurityError',
                message: `station-initiated ${frame.action} while BootNotification status is ${status}` +
                    (status === 'Pending' ? ' and no TriggerMessage asked for it' : ''),
            },
        });
    }

    onCall(station, client, action, params) {
        const idx = this.overrides.findIndex(o =>
            o.action === action && (o.station == null || o.station === station));
        let response;
        if (idx >= 0) {
            const o = this.overrides[idx];
            if (o.once) this.overrides.splice(idx, 1);
            if (o.error) {
                const err = new RPCError(o.error.message || '');
                err.rpcErrorCode = o.error.code || 'GenericError';
                err.details = o.error.details || {};
                throw err;
            }
            response = structuredClone(o.payload);
        } else {
            response = this.handlers.respond(station, client.protocol, action, params);
        }
        if (response === undefined) {
            emit({
                event: 'violation', station, protocol: client.protocol, direction: 'inbound',
                kind: 'unhandled_action', source: 'peer', culprit: 'station', action, payload: params,
                error: { code: 'NotImplemented', message: `${action} is not a station-initiated ${client.protocol} action` },
            });
            const err = new RPCError(`Unable to handle '${action}' calls`);
            err.rpcErrorCode = 'NotImplemented';
            throw err;
        }
        if (action === 'BootNotification' && response && response.status) {
            this.bootState.set(station, response.status);
            this.triggered.delete(station);
        }
        return response;
    }

    async command(cmd) {
        const id = cmd.id ?? null;
        const result = (ok, extra) => emit({ event: 'result', id, cmd: cmd.cmd, ok, ...extra });
        const client = cmd.station != null ? this.clients.get(cmd.station) : undefined;
        switch (cmd.cmd) {
            case 'call': {
                if (!client) {
                    return result(false, { error: { code: 'NotConnected', message: `station ${cmd.station} not connected` } });
                }
                if (cmd.action === 'TriggerMessage' && cmd.payload) {
                    const req = cmd.payload.requestedMessage;
                    const set = this.triggered.get(cmd.station) || new Set();
                    set.add(TRIGGER_ALIASES[req] || req);
                    this.triggered.set(cmd.station, set);
                }
                try {
                    const options = cmd.timeout ? { callTimeoutMs: Math.round(cmd.timeout * 1000) } : {};
                    const payload = await client.call(cmd.action, cmd.payload ?? {}, options);
                    return result(true, { station: cmd.station, action: cmd.action, payload });
                } catch (err) {
                    return result(false, { station: cmd.station, action: cmd.action, error: errorInfo(err) });
                }
            }
            case 'send_raw': {
                if (!client) {
                    return result(false, { error: { code: 'NotConnected', message: `station ${cmd.station} not connected` } });
                }
                client.sendRaw(typeof cmd.raw === 'string' ? cmd.raw : JSON.stringify(cmd.raw));
                return result(true, {});
            }
            case 'close': {
                if (!client) {
                    return result(false, { error: { code: 'NotConnected', message: `station ${cmd.station} not connected` } });
                }
                const closed = await client.close({ code: cmd.code ?? 1000, reason: cmd.reason ?? '', force: Boolean(cmd.force) });
                return result(true, { closed: closed ?? null });
            }
            case 'respond': {
                if (!cmd.action || (cmd.payload === undefined && !cmd.error)) {
                    return result(false, { error: { code: 'BadCommand', message: 'respond needs action and payload or error' } });
                }
                this.overrides.unshift({
                    station: cmd.station ?? null, action: cmd.action, payload: cmd.payload,
                    error: cmd.error ?? null, once: Boolean(cmd.once),
                });
                return result(true, {});
            }
            case 'clear_responses': {
                this.overrides = [];
                return result(true, {});
            }
            case 'shutdown':
                await this.shutdown();
                return undefined;
            default:
                return result(false, { error: { code: 'BadCommand', message: `unknown cmd ${cmd.cmd}` } });
        }
    }

    async shutdown() {
        if (this.stopping) return;
        this.stopping = true;
        const done = this.server.close({ code: 1001, reason: 'peer shutting down', force: true }).catch(() => {});
        await Promise.race([done, new Promise(r => setTimeout(r, 1000))]);
        emit({ event: 'stopped' });
        process.exit(0);
    }
}

async function main() {
    let opts;
    try {
        opts = parseArgs(process.argv.slice(2), process.env);
    } catch (err) {
        process.stderr.write(`csms.js: ${err.message}\n`);
        process.exit(2);
    }
    if (opts.selfcheck) process.exit(selfcheck(opts));

    const peer = new Peer(opts);
    const httpServer = await peer.server.listen(opts.port, opts.host);
    const addr = httpServer.address();
    emit({
        event: 'listening', host: addr.address, port: addr.port, protocols: opts.protocols,
        pid: process.pid, ocpp_rpc: require('ocpp-rpc/package.json').version,
    });

    const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
    rl.on('line', line => {
        if (!line.trim()) return;
        let cmd;
        try {
            cmd = JSON.parse(line);
        } catch (err) {
            emit({ event: 'result', id: null, ok: false, error: { code: 'BadCommand', message: `not JSON: ${err.message}` } });
            return;
        }
        peer.command(cmd).catch(err => emit({ event: 'result', id: cmd.id ?? null, ok: false, error: errorInfo(err) }));
    });
    rl.on('close', () => peer.shutdown());
    process.on('SIGTERM', () => peer.shutdown());
    process.on('SIGINT', () => peer.shutdown());
}

main().catch(err => {
    process.stderr.write(`csms.js: fatal: ${err && err.stack || err}\n`);
    process.exit(1);
});
