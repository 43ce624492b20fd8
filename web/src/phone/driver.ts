// What the phone UI needs from a phone: the same interface whether the audio is in this browser (WebRTC via
// JsSIP) or on the PBX simulator's agent phone (sandbox). In-call actions (hold, mute, hang up) go through
// the gateway for both, so the UI above the driver is the same.

export type DriverStatus = 'starting' | 'ready' | 'failed' | 'stopped';

export interface PhoneDriver {
  readonly mode: 'sandbox' | 'webrtc' | 'none';
  /** Register (webrtc) or check the phone is reachable (sandbox). */
  start(onStatus: (status: DriverStatus, detail?: string) => void): Promise<void>;
  stop(): void;
  /** Answer the ringing call. */
  answer(): Promise<void>;
  /** Refuse the ringing call. */
  reject(): Promise<void>;
  /** End this phone's leg (cancel a call it is dialling). */
  hangup(): Promise<void>;
  /** Call a customer's number (E.164) showing `callerId`. */
  dial(to: string, callerId: string | null): Promise<void>;
}
