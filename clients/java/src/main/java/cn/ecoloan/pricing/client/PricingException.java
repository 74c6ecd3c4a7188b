package cn.ecoloan.pricing.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.rpc.ResourceInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A non-OK gRPC status from the pricing service, with its {@code google.rpc} details decoded.
 *
 * <p>The server follows AIP-193: INVALID_ARGUMENT carries a {@code BadRequest} (one field
 * violation per bad field), FAILED_PRECONDITION and ALREADY_EXISTS an {@code ErrorInfo} whose
 * {@code reason} is the machine-readable cause, NOT_FOUND a {@code ResourceInfo}, UNAVAILABLE a
 * {@code RetryInfo}. Branch on {@link #code()} and {@link #reason()}, never on the message text,
 * which is for people and may change.
 */
public final class PricingException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The trailer in which gRPC servers send a serialized {@code google.rpc.Status}. */
  public static final Metadata.Key<byte[]> STATUS_DETAILS_KEY =
      Metadata.Key.of("grpc-status-details-bin", Metadata.BINARY_BYTE_MARSHALLER);

  private final Status.Code code;
  private final String statusMessage;
  private final int attempts;
  private final List<FieldViolation> fieldViolations;
  private final String reason;
  private final String domain;
  private final Map<String, String> metadata;
  private final Duration retryDelay;
  private final String resourceType;
  private final String resourceName;
  private final List<Any> details;

  private PricingException(
      Status.Code code,
      String statusMessage,
      int attempts,
      com.google.rpc.Status rich,
      Throwable cause) {
    super(code + ": " + statusMessage + (attempts > 1 ? " (after " + attempts + " attempts)" : ""),
        cause);
    this.code = code;
    this.statusMessage = statusMessage;
    this.attempts = attempts;
    List<FieldViolation> violations = new ArrayList<>();
    ErrorInfo errorInfo = null;
    RetryInfo retryInfo = null;
    ResourceInfo resourceInfo = null;
    for (Any detail : rich.getDetailsList()) {
      try {
        if (detail.is(BadRequest.class)) {
          for (BadRequest.FieldViolation v : detail.unpack(BadRequest.class).getFieldViolationsList()) {
            violations.add(new FieldViolation(v.getField(), v.getDescription()));
          }
        } else if (detail.is(ErrorInfo.class) && errorInfo == null) {
          errorInfo = detail.unpack(ErrorInfo.class);
        } else if (detail.is(RetryInfo.class) && retryInfo == null) {
          retryInfo = detail.unpack(RetryInfo.class);
        } else if (detail.is(ResourceInfo.class) && resourceInfo == null) {
          resourceInfo = detail.unpack(ResourceInfo.class);
        }
      } catch (InvalidProtocolBufferException malformed) {
        // A detail that does not parse must not hide the status itself; it stays in details().
      }
    }
    this.fieldViolations = List.copyOf(violations);
    this.reason = errorInfo == null ? "" : errorInfo.getReason();
    this.domain = errorInfo == null ? "" : errorInfo.getDomain();
    this.metadata =
        errorInfo == null
            ? Map.of()
            : Collections.unmodifiableMap(new TreeMap<>(errorInfo.getMetadataMap()));
    this.retryDelay =
        retryInfo == null || !retryInfo.hasRetryDelay()
            ? null
            : Duration.ofSeconds(
                retryInfo.getRetryDelay().getSeconds(), retryInfo.getRetryDelay().getNanos());
    this.resourceType = resourceInfo == null ? "" : resourceInfo.getResourceType();
    this.resourceName = resourceInfo == null ? "" : resourceInfo.getResourceName();
    this.details = List.copyOf(rich.getDetailsList());
  }

  /** The exception for a failed call ({@code StatusRuntimeException} or {@code StatusException}). */
  public static PricingException fromThrowable(Throwable error, int attempts) {
    Status status = Status.fromThrowable(error);
    Metadata trailers = Status.trailersFromThrowable(error);
    String message = status.getDescription() == null ? "" : status.getDescription();
    return new PricingException(
        status.getCode(), message, attempts, richStatus(status, trailers), error);
  }

  private static com.google.rpc.Status richStatus(Status status, Metadata trailers) {
    byte[] raw = trailers == null ? null : trailers.get(STATUS_DETAILS_KEY);
    if (raw == null) {
      return com.google.rpc.Status.getDefaultInstance();
    }
    try {
      com.google.rpc.Status rich = com.google.rpc.Status.parseFrom(raw);
      // Details that claim a different code than the status they came with are not trusted
      // (grpc-java's StatusProto refuses them the same way).
      if (rich.getCode() != status.getCode().value()) {
        return com.google.rpc.Status.getDefaultInstance();
      }
      return rich;
    } catch (InvalidProtocolBufferException malformed) {
      return com.google.rpc.Status.getDefaultInstance();
    }
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** The server's message, for people (logs, operators), not for branching. */
  public String statusMessage() {
    return statusMessage;
  }

  /** How many times the call was tried before this error was raised. */
  public int attempts() {
    return attempts;
  }

  /** The {@code BadRequest} field violations, in the server's order; empty if none. */
  public List<FieldViolation> fieldViolations() {
    return fieldViolations;
  }

  /** {@code ErrorInfo.reason}, e.g. {@code CARBON_GRADE_INELIGIBLE}; empty if none. */
  public String reason() {
    return reason;
  }

  /** {@code ErrorInfo.domain}; empty if none. */
  public String domain() {
    return domain;
  }

  /** {@code ErrorInfo.metadata}, sorted by key; empty if none. */
  public Map<String, String> metadata() {
    return metadata;
  }

  /** The server's {@code RetryInfo.retry_delay}, if it sent one. */
  public Optional<Duration> retryDelay() {
    return Optional.ofNullable(retryDelay);
  }

  /** {@code ResourceInfo.resource_type} (e.g. "quote", "product"); empty if none. */
  public String resourceType() {
    return resourceType;
  }

  /** {@code ResourceInfo.resource_name}; empty if none. */
  public String resourceName() {
    return resourceName;
  }

  /** Every detail as sent, including types this class does not decode. */
  public List<Any> details() {
    return details;
  }
}
