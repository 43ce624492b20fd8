// No phone in the browser (mode "none"): the agent's endpoint is a desk phone. Calls are started through the
// gateway (the desk phone rings first); ringing calls are answered on the desk phone itself.
import { api } from '../api';
import type { DriverStatus, PhoneDriver } from './driver';

export class ExternalDriver implements PhoneDriver {
  readonly mode = 'none' as const;

  async start(onStatus: (status: DriverStatus) => void): Promise<void> {
    onStatus('ready');
  }

  stop(): void {
    // nothing held open
  }

  async answer(): Promise<void> {
    throw new Error('external-phone');
  }

  async reject(): Promise<void> {
    throw new Error('external-phone');
  }

  async hangup(): Promise<void> {
    throw new Error('external-phone');
  }

  async dial(to: string, callerId: string | null): Promise<void> {
    await api.post('/calls', { to, caller_id: callerId });
  }
}
