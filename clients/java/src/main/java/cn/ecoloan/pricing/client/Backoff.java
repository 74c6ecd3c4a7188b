package cn.ecoloan.pricing.client;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.random.RandomGenerator;

/**
 * Exponential backoff with full jitter: before retry {@code n} (1-based) sleep a uniform
 * random time in {@code [0, min(maximum, initial * multiplier^(n-1))]}.
 *
 * <p>Full jitter matters when many core-banking workers failed together (a server restart):
 * without it they would all come back in lock-step. A server's {@code RetryInfo} delay is a
 * lower bound, still capped by {@code maximum}, so one misconfigured hint cannot stall a
 * caller for minutes.
 */
public record Backoff(Duration initial, double multiplier, Duration maximum) {

  /** 100 ms, doubling, at most 2 s: the Python client's schedule. */
  public static final Backoff DEFAULT =
      new Backoff(Duration.ofMillis(100), 2.0, Duration.ofSeconds(2));

  public Backoff {
    Objects.requireNonNull(initial, "initial");
    Objects.requireNonNull(maximum, "maximum");
    if (initial.isNegative() || maximum.isNegative() || !(multiplier >= 1.0)) {
      throw new IllegalArgumentException(
          "backoff needs initial >= 0, maximum >= 0 and multiplier >= 1");
    }
  }

  /** The upper bound of the sleep before retry number {@code retry} (1-based). */
  public Duration cap(int retry) {
    double nanos = initial.toNanos() * Math.pow(multiplier, Math.max(0, retry - 1));
    long capped = (long) Math.min(nanos, (double) maximum.toNanos());
    return Duration.ofNanos(capped);
  }

  /** The sleep before retry number {@code retry}, honouring the server's hint up to maximum. */
  public Duration delay(int retry, Optional<Duration> serverHint, RandomGenerator random) {
    long cap = cap(retry).toNanos();
    long jittered = cap == 0 ? 0 : random.nextLong(cap + 1);
    if (serverHint.isPresent() && !serverHint.get().isNegative()) {
      jittered = Math.max(jittered, Math.min(serverHint.get().toNanos(), maximum.toNanos()));
    }
    return Duration.ofNanos(jittered);
  }
}
