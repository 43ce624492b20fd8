// The sandbox phone: the PBX simulator's phone of the agent's endpoint, driven through the gateway
// (POST /api/v1/phone/*). Ringing is learned from the live WebSocket like every other phone event.
import { api } from '../api';
import type { DriverStatus, PhoneDriver } from './driver';

export class SandboxDriver implements PhoneDriver {
  readonly mode = 'sandbox' as const;

  async start(onStatus: (status: DriverStatus) => void): Promise<void> {
    onStatus('ready');
  }

  stop(): void {
    // nothing is held open: the simulator keeps the phone
  }

  async answer(): Promise<void> {
    await api.post('/phone/answer');
  }

  async reject(): Promise<void> {
    await api.post('/phone/reject');
  }

  async hangup(): Promise<void> {
    await api.post('/phone/hangup');
  }

  async dial(to: string, callerId: string | null): Promise<void> {
    await api.post('/phone/dial', { to, caller_id: callerId });
  }
}
