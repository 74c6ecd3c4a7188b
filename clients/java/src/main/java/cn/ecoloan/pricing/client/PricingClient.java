package cn.ecoloan.pricing.client;

import ecoloan.pricing.v1.PricingServiceGrpc;
import ecoloan.pricing.v1.PricingServiceGrpc.PricingServiceBlockingStub;
import ecoloan.pricing.v1.PricingServiceOuterClass.CreateQuoteRequest;
import ecoloan.pricing.v1.PricingServiceOuterClass.CreateQuoteResponse;
import ecoloan.pricing.v1.PricingServiceOuterClass.DescribePolicyRequest;
import ecoloan.pricing.v1.PricingServiceOuterClass.DescribePolicyResponse;
import ecoloan.pricing.v1.PricingServiceOuterClass.GetQuoteProofRequest;
import ecoloan.pricing.v1.PricingServiceOuterClass.GetQuoteProofResponse;
import ecoloan.pricing.v1.PricingServiceOuterClass.GetQuoteRequest;
import ecoloan.pricing.v1.PricingServiceOuterClass.GetQuoteResponse;
import ecoloan.pricing.v1.PricingServiceOuterClass.ListProductsRequest;
import ecoloan.pricing.v1.PricingServiceOuterClass.ListProductsResponse;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.netty.handler.ssl.OpenSsl;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Blocking client of {@code ecoloan.pricing.v1.PricingService}.
 *
 * <p>Every attempt carries its own deadline. Retries (bounded, exponential backoff with full
 * jitter, honouring the server's {@code RetryInfo}) happen only where a repeat is harmless: the
 * read RPCs always, and CreateQuote only when the request carries a {@code request_id}, because
 * the server answers a repeated request id + request with the quote it already gave. A
 * CreateQuote without request id is tried once: after a lost reply a retry could book a second
 * binding quote.
 *
 * <pre>{@code
 * try (PricingClient client = PricingClient.forTarget("127.0.0.1:50051").build()) {
 *   CreateQuoteResponse r = client.createQuote(request, "loan-2026-000123");
 * }
 * }</pre>
 *
 * <p>Thread-safe: share one client (one HTTP/2 connection) across the application.
 */
public final class PricingClient implements AutoCloseable {

  /** Where {@code make run} serves. */
  public static final String DEFAULT_TARGET = "127.0.0.1:50051";

  /**
   * Status codes after which an idempotent call is tried again: both mean "the server may not
   * have acted, or acted and the reply was lost". Every other status is an answer, and asking
   * again would get the same answer.
   */
  public static final Set<Status.Code> RETRYABLE_CODES =
      EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.DEADLINE_EXCEEDED);

  private static final Metadata.Key<String> CALLER_ID =
      Metadata.Key.of("x-caller-id", Metadata.ASCII_STRING_MARSHALLER);

  private final ManagedChannel channel;
  private final PricingServiceBlockingStub stub;
  private final Duration timeout;
  private final int maxAttempts;
  private final Backoff backoff;

  private PricingClient(Builder b, ManagedChannel channel) {
    this.channel = channel;
    PricingServiceBlockingStub base = PricingServiceGrpc.newBlockingStub(channel);
    if (b.callerId != null && !b.callerId.isEmpty()) {
      Metadata headers = new Metadata();
      headers.put(CALLER_ID, b.callerId);
      base = base.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    this.stub = base;
    this.timeout = b.timeout;
    this.maxAttempts = b.maxAttempts;
    this.backoff = b.backoff;
  }

  /** A builder for a client of {@code target} ("host:port" or any gRPC target string). */
  public static Builder forTarget(String target) {
    return new Builder(target);
  }

  /**
   * Creates a binding quote under {@code requestId}, the caller's idempotency key (at most 128
   * characters). Derive it from the loan application (e.g. its number), not from the attempt, so
   * a resubmission after a crash returns the quote already booked instead of booking another.
   */
  public CreateQuoteResponse createQuote(CreateQuoteRequest request, String requestId) {
    Objects.requireNonNull(requestId, "requestId");
    if (requestId.isEmpty()) {
      throw new IllegalArgumentException("requestId must not be empty");
    }
    return createQuote(request.toBuilder().setRequestId(requestId).build());
  }

  /**
   * Creates a binding quote. It is always sent with a request id: the request's, or one
   * generated here when it has none (the quote then echoes it), so a retry on UNAVAILABLE /
   * DEADLINE_EXCEEDED can never book a second quote: the server answers it with the first.
   *
   * @throws PricingException on any non-OK status (after the retries, if any)
   */
  public CreateQuoteResponse createQuote(CreateQuoteRequest request) {
    CreateQuoteRequest withId =
        request.getRequestId().isEmpty()
            ? request.toBuilder().setRequestId("java-" + UUID.randomUUID()).build()
            : request;
    return call(s -> s.createQuote(withId), true);
  }

  /** A binding quote by id, with its audit position (NOT_FOUND if unknown). */
  public GetQuoteResponse getQuote(String quoteId) {
    GetQuoteRequest request = GetQuoteRequest.newBuilder().setQuoteId(quoteId).build();
    return call(s -> s.getQuote(request), true);
  }

  /**
   * The inclusion proof of a quote's audit record against the latest signed checkpoint. Check
   * it with {@link QuoteProofs#verify}; UNAVAILABLE (retried) while no checkpoint covers it.
   */
  public GetQuoteProofResponse getQuoteProof(String quoteId) {
    GetQuoteProofRequest request = GetQuoteProofRequest.newBuilder().setQuoteId(quoteId).build();
    return call(s -> s.getQuoteProof(request), true);
  }

  /** The products of the policy in force now. */
  public ListProductsResponse listProducts() {
    return call(s -> s.listProducts(ListProductsRequest.getDefaultInstance()), true);
  }

  /** The policy in force now and its LPR fixings. */
  public DescribePolicyResponse describePolicy() {
    return call(s -> s.describePolicy(DescribePolicyRequest.getDefaultInstance()), true);
  }

  private <T> T call(Function<PricingServiceBlockingStub, T> rpc, boolean idempotent) {
    int limit = idempotent ? maxAttempts : 1;
    for (int attempt = 1; ; attempt++) {
      PricingException error;
      try {
        // A fresh deadline per attempt: one slow attempt must not eat the retries' budget.
        return rpc.apply(stub.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS));
      } catch (StatusRuntimeException e) {
        error = PricingException.fromThrowable(e, attempt);
      }
      if (attempt >= limit || !RETRYABLE_CODES.contains(error.code())) {
        throw error;
      }
      Duration pause = backoff.delay(attempt, error.retryDelay(), ThreadLocalRandom.current());
      try {
        Thread.sleep(pause.toMillis(), (int) (pause.toNanos() % 1_000_000));
      } catch (InterruptedException interrupted) {
        Thread.currentThread().interrupt();
        error.addSuppressed(interrupted);
        throw error;
      }
    }
  }

  /** Closes the connection, letting in-flight calls finish for up to five seconds. */
  @Override
  public void close() {
    channel.shutdown();
    try {
      if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /** Settings of a {@link PricingClient}; plaintext unless a TLS method is called. */
  public static final class Builder {
    private final String target;
    private Duration timeout = Duration.ofSeconds(5);
    private int maxAttempts = 4;
    private Backoff backoff = Backoff.DEFAULT;
    private String callerId;
    private boolean tls;
    private Path trustedCa;
    private Path clientCertChain;
    private Path clientKey;

    private Builder(String target) {
      this.target = Objects.requireNonNull(target, "target");
    }

    /** Deadline of each attempt (default 5 s). */
    public Builder timeout(Duration value) {
      if (value.isNegative() || value.isZero()) {
        throw new IllegalArgumentException("timeout must be > 0");
      }
      this.timeout = value;
      return this;
    }

    /** Attempts of a retryable call, the first included (default 4). */
    public Builder maxAttempts(int value) {
      if (value < 1) {
        throw new IllegalArgumentException("maxAttempts must be >= 1");
      }
      this.maxAttempts = value;
      return this;
    }

    /** The sleep schedule between attempts (default {@link Backoff#DEFAULT}). */
    public Builder backoff(Backoff value) {
      this.backoff = Objects.requireNonNull(value, "backoff");
      return this;
    }

    /**
     * Sent as {@code x-caller-id}; the audit log records it as the caller when the connection
     * has no client certificate (with mTLS the certificate's subject is recorded instead).
     */
    public Builder callerId(String value) {
      this.callerId = value;
      return this;
    }

    /**
     * TLS, verifying the server against the PEM CA bundle {@code caPem} (null: the JVM's default
     * trust store). The server's certificate must name the host of the target.
     */
    public Builder tls(Path caPem) {
      this.tls = true;
      this.trustedCa = caPem;
      return this;
    }

    /**
     * mTLS: also present this PEM certificate chain and PKCS#8 PEM private key (the format
     * {@code openssl pkcs8 -topk8 -nocrypt} writes); implies {@link #tls}.
     */
    public Builder clientCertificate(Path certChainPem, Path pkcs8KeyPem) {
      this.tls = true;
      this.clientCertChain = Objects.requireNonNull(certChainPem, "certChainPem");
      this.clientKey = Objects.requireNonNull(pkcs8KeyPem, "pkcs8KeyPem");
      return this;
    }

    /** Opens the channel (lazily: the first call connects). */
    public PricingClient build() {
      NettyChannelBuilder channel = NettyChannelBuilder.forTarget(target);
      if (tls) {
        channel.sslContext(sslContext());
      } else {
        channel.usePlaintext();
      }
      return new PricingClient(this, channel.build());
    }

    private SslContext sslContext() {
      try {
        SslContextBuilder ssl = GrpcSslContexts.forClient();
        if (trustedCa != null) {
          ssl.trustManager(trustedCa.toFile());
        }
        if (clientCertChain != null) {
          ssl.keyManager(clientCertChain.toFile(), clientKey.toFile());
        }
        return ssl.build();
      } catch (UnsupportedOperationException e) {
        // gRPC needs ALPN to speak HTTP/2 over TLS. Upstream Netty does it with the JDK's TLS
        // on Java 9+, but Debian's Netty is built without that code, so there only OpenSSL
        // (netty-tcnative) can; say so instead of Netty's puzzling "does not support ALPN".
        throw new IllegalStateException(
            "TLS needs ALPN, which this Netty can only get from OpenSSL: put netty-tcnative on"
                + " the class path and its native library on java.library.path (see"
                + " clients/java/README.md); OpenSSL unavailable because: "
                + OpenSsl.unavailabilityCause(),
            e);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot load TLS material: " + e.getMessage(), e);
      } catch (IllegalArgumentException e) {
        throw new UncheckedIOException(
            "cannot load TLS material: " + e.getMessage(), new IOException(e));
      }
    }
  }
}
