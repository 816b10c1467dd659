import { hkdfSync, randomBytes } from 'node:crypto';

/** Session-ticket keys are 48 bytes: name, HMAC secret, AES key (Node's `setTicketKeys`). */
const TICKET_KEY_BYTES = 48;
/** As long as SHA-256's output: HKDF gains nothing from a longer input key (RFC 5869 §3.1). */
const SECRET_BYTES = 32;

/** A fresh secret for `TicketKeySchedule`: one per Tandem, given to each of its workers. */
export function newTicketSecret(): Buffer {
  return randomBytes(SECRET_BYTES);
}

/**
 * The session-ticket keys of one TLS listener, derived from a secret and the current rotation period
 * (HKDF-SHA256, RFC 5869) rather than drawn at random: every process that holds the secret — a
 * Tandem's workers, a worker started in place of one that died — encrypts and decrypts the same
 * tickets and changes keys at the same instant, so a client resumes its session whichever worker its
 * next connection reaches. (Envoy's workers share one SSL context, hence one set of keys.)
 * A period starts at a multiple of `rotationMs` since the Unix epoch, so processes need only agree on
 * the clock, as processes on one machine do.
 */
export class TicketKeySchedule {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly secret: Buffer,
    /** Tells listeners apart: the same secret gives each its own keys. */
    private readonly label: string,
    private readonly rotationMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(rotationMs > 0)) throw new Error(`ticket-key rotation must be a positive number of milliseconds, not ${rotationMs}`);
  }

  /** The keys of the period under way. */
  current(): Buffer {
    const period = Math.floor(this.now() / this.rotationMs);
    return Buffer.from(hkdfSync('sha256', this.secret, this.label, `tandem session-ticket keys ${period}`, TICKET_KEY_BYTES));
  }

  /** Calls `apply` with the new keys at the start of each period from now on, until `stop()`. */
  onRotation(apply: (keys: Buffer) => void): void {
    this.stop();
    const untilNext = this.rotationMs - (this.now() % this.rotationMs);
    this.timer = setTimeout(() => {
      apply(this.current());
      this.onRotation(apply);
    }, untilNext);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
