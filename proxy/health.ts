// Health decisions, as pure logic the router's supervisor feeds: the rise/fall state of one
// backend and its recent error rate.
//
// A hard failure (no answer to a ping in time: a blocked event loop; storage connection down;
// an error rate above the limit over a window of enough requests) takes a backend out at once.
// A soft failure takes it out only after `fall` consecutive bad checks, for signals where one
// bad reading should not evict a backend. Either way it comes back only after `rise`
// consecutive good checks, which keeps a flapping backend out.

export interface HealthThresholds {
  rise: number;
  fall: number;
  maxErrorRate: number;
}

export interface CheckResult {
  isGood: boolean;
  /** Take the backend out at once, without waiting for `fall` bad checks. */
  isHard: boolean;
  reason: string | null;
}

export class HealthState {
  isHealthy = true;
  reason: string | null = null;
  private goodStreak = 0;
  private badStreak = 0;
  private readonly thresholds: HealthThresholds;

  constructor(thresholds: HealthThresholds, isHealthyAtStart = true) {
    this.thresholds = thresholds;
    this.isHealthy = isHealthyAtStart;
  }

  /** Feeds one check; returns true when the healthy/unhealthy verdict changed. */
  record(check: CheckResult): boolean {
    const was = this.isHealthy;
    if (check.isGood) {
      this.badStreak = 0;
      this.goodStreak++;
      if (!this.isHealthy && this.goodStreak >= this.thresholds.rise) {
        this.isHealthy = true;
        this.reason = null;
      }
    } else {
      this.goodStreak = 0;
      this.badStreak++;
      if (this.isHealthy && (check.isHard || this.badStreak >= this.thresholds.fall)) {
        this.isHealthy = false;
      }
      if (!this.isHealthy) this.reason = check.reason;
    }
    return was !== this.isHealthy;
  }

  /** Out at once (a failed dispatch, a missed ping): same as a hard failed check. */
  fail(reason: string): boolean {
    return this.record({ isGood: false, isHard: true, reason });
  }
}

/**
 * Responses and errors over the last `windowMs`, in one-second buckets. The rate is judged only
 * over at least `minSamples` requests: two errors out of three requests say little.
 */
export class ErrorWindow {
  private readonly buckets: Array<{ second: number; total: number; errors: number }> = [];
  private readonly windowMs: number;
  private readonly minSamples: number;

  constructor(windowMs = 5_000, minSamples = 10) {
    this.windowMs = windowMs;
    this.minSamples = minSamples;
  }

  add(isError: boolean, now = Date.now()): void {
    const second = Math.floor(now / 1000);
    let bucket = this.buckets[this.buckets.length - 1];
    if (!bucket || bucket.second !== second) {
      bucket = { second, total: 0, errors: 0 };
      this.buckets.push(bucket);
    }
    bucket.total++;
    if (isError) bucket.errors++;
    this.expire(now);
  }

  /** Error ratio 0..1, or null while there are too few samples to judge. */
  rate(now = Date.now()): number | null {
    this.expire(now);
    let total = 0;
    let errors = 0;
    for (const bucket of this.buckets) {
      total += bucket.total;
      errors += bucket.errors;
    }
    return total >= this.minSamples ? errors / total : null;
  }

  private expire(now: number): void {
    const oldest = Math.floor((now - this.windowMs) / 1000);
    while (this.buckets.length > 0 && this.buckets[0]!.second <= oldest) this.buckets.shift();
  }
}
