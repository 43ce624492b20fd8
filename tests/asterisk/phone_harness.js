// A test agent phone: JsSIP (window.JsSIP, bundled from web/node_modules by the suite) registers one agent
// endpoint to Asterisk's WebSocket SIP transport, and window.harness lets the test drive it and read back what
// happened: how to answer (after N ms, reject with a code, never), dial with the caller-ID header, hang up,
// and the RTP counters of the call's peer connection (getStats).
'use strict';

(() => {
  const media = { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } };
  const state = {
    registered: false,
    registrationError: null,
    plan: { action: 'answer', afterMs: 1000 },
    sessions: [], // what each call went through, oldest first
  };
  let ua = null;
  const live = new Map(); // call index -> RTCSession still up

  function record(entry, what, extra) {
    entry.events.push({ what, at: Date.now(), ...extra });
  }

  function track(session, direction) {
    const entry = {
      index: state.sessions.length, direction, status: 'ringing', remote: session.remote_identity?.uri?.user ?? '',
      remoteName: session.remote_identity?.display_name ?? '', events: [], finalCode: null, cause: null,
      endedBy: null,
    };
    state.sessions.push(entry);
    live.set(entry.index, session);
    session.on('progress', (e) => record(entry, 'progress', { code: e.response?.status_code ?? null }));
    session.on('accepted', () => { entry.status = 'accepted'; record(entry, 'accepted'); });
    session.on('confirmed', () => { entry.status = 'confirmed'; record(entry, 'confirmed'); });
    session.on('ended', (e) => {
      entry.status = 'ended'; entry.cause = e.cause; entry.endedBy = e.originator;
      record(entry, 'ended', { cause: e.cause, originator: e.originator });
    });
    session.on('failed', (e) => {
      entry.status = 'failed'; entry.cause = e.cause; entry.endedBy = e.originator;
      entry.finalCode = e.message?.status_code ?? null;
      record(entry, 'failed', { cause: e.cause, originator: e.originator, code: entry.finalCode });
    });
    return entry;
  }

  function incoming(session) {
    const entry = track(session, 'incoming');
    const plan = state.plan;
    record(entry, 'incoming', { plan: plan.action });
    if (plan.action === 'reject') {
      setTimeout(() => { if (!session.isEnded()) session.terminate({ status_code: plan.code }); }, plan.afterMs);
    } else if (plan.action === 'answer') {
      setTimeout(() => { if (!session.isEnded()) session.answer(media); }, plan.afterMs);
    } // 'ignore': rings until the caller gives up
  }

  async function stats(index) {
    const session = live.get(index ?? state.sessions.length - 1);
    const pc = session?.connection;
    const out = { packetsReceived: 0, packetsSent: 0, bytesReceived: 0, codec: null, iceState: null,
                  dtlsState: null, pair: null };
    if (!pc) return out;
    out.iceState = pc.iceConnectionState;
    const report = await pc.getStats();
    const codecs = new Map();
    report.forEach((s) => { if (s.type === 'codec') codecs.set(s.id, s.mimeType); });
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.packetsReceived += s.packetsReceived ?? 0;
        out.bytesReceived += s.bytesReceived ?? 0;
        out.codec = codecs.get(s.codecId) ?? out.codec;
      } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out.packetsSent += s.packetsSent ?? 0;
      } else if (s.type === 'transport') {
        out.dtlsState = s.dtlsState ?? null;
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        const local = report.get(s.localCandidateId);
        const remote = report.get(s.remoteCandidateId);
        out.pair = `${local?.address}:${local?.port} -> ${remote?.address}:${remote?.port}`;
      }
    });
    return out;
  }

  window.harness = {
    /** Register the endpoint; resolves when Asterisk accepted the REGISTER, rejects with its cause. */
    register(config) {
      return new Promise((resolve, reject) => {
        ua = new window.JsSIP.UA({
          sockets: [new window.JsSIP.WebSocketInterface(config.ws_url)],
          uri: config.sip_uri, authorization_user: config.username, password: config.password,
          display_name: config.display_name ?? '', register: true, session_timers: false,
        });
        ua.on('registered', () => { state.registered = true; resolve(true); });
        ua.on('unregistered', () => { state.registered = false; });
        ua.on('registrationFailed', (e) => {
          state.registrationError = String(e.cause); reject(new Error(`registration failed: ${e.cause}`));
        });
        ua.on('newRTCSession', (e) => { if (e.originator === 'remote') incoming(e.session); });
        ua.start();
      });
    },
    /** How the next incoming calls are met: {action: 'answer'|'reject'|'ignore', afterMs, code}. */
    setPlan(plan) { state.plan = { afterMs: 0, code: 486, ...plan }; },
    /** Answer the ringing call now (plan 'ignore'). */
    answer() {
      const entry = [...state.sessions].reverse().find((s) => s.direction === 'incoming' && s.status === 'ringing');
      if (!entry) throw new Error('no ringing call');
      live.get(entry.index).answer(media);
    },
    /** Dial a number as the agent's softphone does, with the chosen caller ID in X-Nebula-Caller-Id. */
    call(number, callerId) {
      const domain = ua.configuration.uri.host;
      const extraHeaders = callerId ? [`X-Nebula-Caller-Id: ${callerId}`] : [];
      const session = ua.call(`sip:${number}@${domain}`, { ...media, extraHeaders });
      return track(session, 'outgoing').index;
    },
    /** Hang up (or cancel) every call of this phone. */
    hangup() {
      for (const session of live.values()) if (!session.isEnded()) session.terminate();
    },
    status() { return JSON.parse(JSON.stringify(state)); },
    stats,
    async stop() { ua?.stop(); },
  };
})();
