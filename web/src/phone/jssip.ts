// The browser softphone: JsSIP registers to Asterisk's WebSocket SIP transport with the agent's endpoint
// credentials (GET /api/v1/phone). Loaded on demand, so sandbox users never download JsSIP.
import type { UA } from 'jssip';
import type { PeerConnectionEvent, RTCSession } from 'jssip/lib/RTCSession';
import type { IncomingRTCSessionEvent, OutgoingRTCSessionEvent } from 'jssip/lib/UA';
import type { PhoneConfig } from '../types';
import type { DriverStatus, PhoneDriver } from './driver';

type JsSip = typeof import('jssip');

export const CALLER_ID_HEADER = 'X-Nebula-Caller-Id';
const INVITE_GRACE_MS = 3000;

async function loadJsSip(): Promise<JsSip> {
  // JsSIP is CommonJS: the bundler hands it over as the default export.
  const mod = (await import('jssip')) as JsSip & { default?: JsSip };
  return mod.default ?? mod;
}

export class JsSipDriver implements PhoneDriver {
  readonly mode = 'webrtc' as const;
  private ua: UA | null = null;
  private incoming: RTCSession | null = null;
  private current: RTCSession | null = null;
  private ringing: Array<() => void> = [];
  private readonly audio: HTMLAudioElement;

  constructor(private readonly config: PhoneConfig) {
    this.audio = document.createElement('audio');
    this.audio.autoplay = true;
    this.audio.dataset.role = 'remote-audio';
    this.audio.hidden = true;
    document.body.appendChild(this.audio);
  }

  private get media(): { mediaConstraints: MediaStreamConstraints; pcConfig: RTCConfiguration } {
    return { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: this.config.ice_servers ?? [] } };
  }

  async start(onStatus: (status: DriverStatus, detail?: string) => void): Promise<void> {
    const { ws_url: wsUrl, sip_uri: sipUri, username, password } = this.config;
    if (!wsUrl || !sipUri) {
      onStatus('failed', 'config');
      return;
    }
    onStatus('starting');
    const JsSIP = await loadJsSip();
    const ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(wsUrl)],
      uri: sipUri,
      ...(username ? { authorization_user: username } : {}),
      ...(password ? { password } : {}),
      display_name: this.config.display_name ?? '',
      register: true,
      session_timers: false,
    });
    ua.on('registered', () => onStatus('ready'));
    ua.on('unregistered', () => onStatus('starting'));
    ua.on('registrationFailed', (e) => onStatus('failed', String(e.cause ?? '')));
    ua.on('disconnected', () => onStatus('starting'));
    ua.on('newRTCSession', (e: IncomingRTCSessionEvent | OutgoingRTCSessionEvent) => {
      const session = e.session;
      if (e.originator === 'remote') {
        if (this.current || this.incoming) {
          session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
          return;
        }
        this.incoming = session;
        this.ringing.splice(0).forEach((wake) => wake());
      } else {
        this.current = session;
      }
      session.on('peerconnection', (pe: PeerConnectionEvent) => this.attach(pe.peerconnection as unknown as RTCPeerConnection));
      if (session.connection) this.attach(session.connection as unknown as RTCPeerConnection);
      session.on('accepted', () => {
        if (this.incoming === session) this.incoming = null;
        this.current = session;
      });
      const done = (): void => {
        if (this.incoming === session) this.incoming = null;
        if (this.current === session) this.current = null;
      };
      session.on('ended', done);
      session.on('failed', done);
    });
    ua.start();
    this.ua = ua;
  }

  private attach(pc: RTCPeerConnection): void {
    pc.addEventListener('track', (event: RTCTrackEvent) => {
      const [stream] = event.streams;
      this.audio.srcObject = stream ?? new MediaStream([event.track]);
      void this.audio.play().catch(() => undefined);
    });
  }

  stop(): void {
    this.ua?.stop();
    this.ua = null;
    this.audio.remove();
  }

  // The platform's offer can reach the page a moment before Asterisk's INVITE reaches JsSIP (the offer is
  // announced when recorded, then the leg is originated): a click in between waits for the INVITE briefly.
  private async incomingSession(): Promise<RTCSession> {
    if (!this.incoming) {
      await new Promise<void>((resolve) => {
        const wake = (): void => { clearTimeout(timer); resolve(); };
        const timer = setTimeout(() => { this.ringing = this.ringing.filter((w) => w !== wake); resolve(); },
          INVITE_GRACE_MS);
        this.ringing.push(wake);
      });
    }
    if (!this.incoming) throw new Error('no-ringing-call');
    return this.incoming;
  }

  async answer(): Promise<void> {
    (await this.incomingSession()).answer(this.media);
  }

  async reject(): Promise<void> {
    (await this.incomingSession()).terminate({ status_code: 603, reason_phrase: 'Decline' });
  }

  async hangup(): Promise<void> {
    (this.current ?? this.incoming)?.terminate();
  }

  async dial(to: string, callerId: string | null): Promise<void> {
    if (!this.ua) throw new Error('not-registered');
    const domain = (this.config.sip_uri ?? '').split('@')[1] ?? location.hostname;
    const extraHeaders = callerId ? [`${CALLER_ID_HEADER}: ${callerId}`] : [];
    this.current = this.ua.call(`sip:${to}@${domain}`, { ...this.media, extraHeaders });
  }
}
