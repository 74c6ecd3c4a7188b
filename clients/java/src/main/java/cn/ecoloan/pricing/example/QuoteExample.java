package cn.ecoloan.pricing.example;

import cn.ecoloan.pricing.client.FieldViolation;
import cn.ecoloan.pricing.client.MerkleProofs;
import cn.ecoloan.pricing.client.NoteVerifier;
import cn.ecoloan.pricing.client.PricingClient;
import cn.ecoloan.pricing.client.PricingException;
import cn.ecoloan.pricing.client.ProofException;
import cn.ecoloan.pricing.client.QuoteProofs;
import cn.ecoloan.pricing.client.VerifiedProof;
import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import ecoloan.pricing.v1.PricingServiceOuterClass.CarbonEmissions;
import ecoloan.pricing.v1.PricingServiceOuterClass.CarbonGrade;
import ecoloan.pricing.v1.PricingServiceOuterClass.CreateQuoteRequest;
import ecoloan.pricing.v1.PricingServiceOuterClass.CreateQuoteResponse;
import ecoloan.pricing.v1.PricingServiceOuterClass.GetQuoteProofResponse;
import ecoloan.pricing.v1.PricingServiceOuterClass.GetQuoteResponse;
import ecoloan.pricing.v1.PricingServiceOuterClass.Industry;
import ecoloan.pricing.v1.PricingServiceOuterClass.Quote;
import ecoloan.pricing.v1.PricingServiceOuterClass.RepaymentMethod;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * Quotes 绿碳融 (the carbon-account loan) the way a core banking system would: with a request id
 * and a deadline, retried safely, errors read from their details, the quote fetched back by id
 * and its audit-log inclusion proof checked.
 *
 * <p>Prints one {@code key=value} per line so scripts (and the e2e test) can read it. Exit code 0
 * when every step did what the contract says, 1 otherwise, 2 for bad arguments.
 */
public final class QuoteExample {

  /**
   * A fixed pricing instant makes the output reproducible (10:00 Beijing time on 2026-11-20, when
   * the 2025-05-20 LPR fixing is in force); a bank leaves pricing_time unset ({@code
   * --pricing-time now}) so the server's clock prices the loan.
   */
  static final String DEFAULT_PRICING_TIME = "2026-11-20T10:00:00+08:00";

  private static final Set<String> OPTIONS =
      Set.of(
          "target", "public-key", "ca", "cert", "key", "request-id", "pricing-time", "timeout",
          "caller-id");

  private QuoteExample() {}

  public static void main(String[] args) {
    System.exit(run(args, System.out, System.err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
      out.println(usage());
      return 0;
    }
    Map<String, String> opts;
    Timestamp pricingTime;
    Duration timeout;
    NoteVerifier verifier = null;
    try {
      opts = parse(args);
      pricingTime = pricingTime(opts.getOrDefault("pricing-time", DEFAULT_PRICING_TIME));
      timeout = Duration.ofMillis(
          Math.round(Double.parseDouble(opts.getOrDefault("timeout", "5")) * 1000));
      if (opts.containsKey("cert") != opts.containsKey("key")) {
        throw new IllegalArgumentException("--cert and --key go together");
      }
      if (opts.containsKey("public-key")) {
        verifier = NoteVerifier.fromFile(Path.of(opts.get("public-key")));
      }
    } catch (IllegalArgumentException | DateTimeParseException e) {
      err.println("error: " + e.getMessage());
      err.println(usage());
      return 2;
    } catch (IOException | ProofException e) {
      err.println("error: cannot read --public-key: " + e.getMessage());
      return 2;
    }
    String target = opts.getOrDefault("target", PricingClient.DEFAULT_TARGET);
    // Derive the request id from the business event (the loan application) in real use; a
    // random one here lets the example run many times against one server.
    String requestId = opts.getOrDefault("request-id", "java-example-" + UUID.randomUUID());

    PricingClient.Builder builder =
        PricingClient.forTarget(target)
            .timeout(timeout)
            .callerId(opts.getOrDefault("caller-id", "java-example"));
    if (opts.containsKey("ca") || opts.containsKey("cert")) {
      builder.tls(opts.containsKey("ca") ? Path.of(opts.get("ca")) : null);
    }
    if (opts.containsKey("cert")) {
      builder.clientCertificate(Path.of(opts.get("cert")), Path.of(opts.get("key")));
    }

    PricingClient built;
    try {
      built = builder.build();
    } catch (IllegalStateException | UncheckedIOException e) {
      err.println("error: " + e.getMessage());
      return 2;
    }
    out.println("target=" + target);
    try (PricingClient client = built) {
      return quote(client, requestId, pricingTime, verifier, out);
    } catch (PricingException e) {
      // One line, whatever the message holds, so the output stays parseable.
      out.println(
          "failed=" + e.code() + " attempts=" + e.attempts()
              + (e.reason().isEmpty() ? "" : " reason=" + e.reason())
              + " message=" + e.statusMessage().replaceAll("\\s+", " ").strip());
      return 1;
    }
  }

  private static int quote(
      PricingClient client,
      String requestId,
      Timestamp pricingTime,
      NoteVerifier verifier,
      PrintStream out) {
    CreateQuoteRequest request = lvtanrong(pricingTime);

    CreateQuoteResponse created = client.createQuote(request, requestId);
    Quote quote = created.getQuote();
    out.println("request_id=" + requestId);
    out.println("quote_id=" + quote.getQuoteId());
    out.println("rate=" + quote.getAnnualRate());
    out.println("ordinary_rate=" + quote.getOrdinaryRate());
    out.println("concession_bp=" + quote.getConcessionBp());
    out.println("carbon_grade=" + quote.getCarbon().getGrade());
    out.println("carbon_k=" + quote.getCarbon().getEfficiencyK());
    out.println("policy_version=" + quote.getPolicyVersion());
    out.println("audit_sequence=" + created.getAuditPosition().getSequence());

    // What a retry after a lost reply does: same request id, same request, same quote.
    CreateQuoteResponse again = client.createQuote(request, requestId);
    out.println("retry_quote_id=" + again.getQuote().getQuoteId());

    GetQuoteResponse fetched = client.getQuote(quote.getQuoteId());
    out.println("fetched_quote_id=" + fetched.getQuote().getQuoteId());
    out.println("fetched_rate=" + fetched.getQuote().getAnnualRate());

    boolean ok = again.getQuote().getQuoteId().equals(quote.getQuoteId());
    ok &= fetched.getQuote().equals(quote);
    ok &= invalidRequest(client, out);
    ok &= ineligibleRequest(client, requestId, pricingTime, out);
    ok &= proof(client, created, verifier, out);
    return ok ? 0 : 1;
  }

  /** Every bad field comes back at once, as BadRequest field violations. */
  private static boolean invalidRequest(PricingClient client, PrintStream out) {
    CreateQuoteRequest bad =
        CreateQuoteRequest.newBuilder()
            .setBorrowerId("")
            .setProductId("lvtanrong")
            .setCreditRating("AA")
            .setPrincipalFen(0)
            .setTermMonths(0)
            .setCarbonGrade(
                CarbonGrade.newBuilder()
                    .setGrade(9)
                    .setAssessedOn("2026-9-30")
                    .setPlatformId("changji-carbon-account"))
            .build();
    try {
      client.createQuote(bad);
      out.println("invalid_request=accepted");
      return false;
    } catch (PricingException e) {
      out.println("invalid_code=" + e.code());
      for (FieldViolation v : e.fieldViolations()) {
        out.println("violation field=" + v.field() + " description=" + v.description());
      }
      return e.code() == io.grpc.Status.Code.INVALID_ARGUMENT && !e.fieldViolations().isEmpty();
    }
  }

  /** A well-formed request the policy refuses: the reason is in ErrorInfo, not the message. */
  private static boolean ineligibleRequest(
      PricingClient client, String requestId, Timestamp pricingTime, PrintStream out) {
    CreateQuoteRequest grade4 =
        lvtanrong(pricingTime).toBuilder()
            .clearCarbonEmissions()
            .setCarbonGrade(
                CarbonGrade.newBuilder()
                    .setGrade(4)
                    .setAssessedOn("2026-09-30")
                    .setPlatformId("changji-carbon-account"))
            .build();
    try {
      client.createQuote(grade4, requestId + "-grade4");
      out.println("ineligible_request=accepted");
      return false;
    } catch (PricingException e) {
      out.println("ineligible_code=" + e.code());
      out.println("error_reason=" + e.reason());
      e.metadata().forEach((k, v) -> out.println("error_metadata " + k + "=" + v));
      return e.code() == io.grpc.Status.Code.FAILED_PRECONDITION && !e.reason().isEmpty();
    }
  }

  private static boolean proof(
      PricingClient client, CreateQuoteResponse created, NoteVerifier verifier, PrintStream out) {
    String quoteId = created.getQuote().getQuoteId();
    GetQuoteProofResponse proof = client.getQuoteProof(quoteId);
    if (!proof.getAuditPosition().equals(created.getAuditPosition())) {
      out.println("proof=failed reason=the proof is for another audit position than CreateQuote's");
      return false;
    }
    VerifiedProof verified;
    try {
      verified = QuoteProofs.verify(proof, quoteId, verifier);
    } catch (ProofException e) {
      out.println("proof=failed reason=" + e.getMessage());
      return false;
    }
    out.println(
        "proof=verified tree_size=" + verified.checkpoint().size()
            + " leaf_index=" + verified.leafIndex()
            + " signature=" + (verified.signatureVerified() ? "verified" : "unchecked"));
    if (verified.signatureVerified()) {
      out.println("checkpoint_key=" + verified.signedBy());
    }
    // A verifier that accepts anything would also have printed "verified". Show that it refuses
    // what a dishonest log would serve: this record with the rate rewritten and the leaf hash
    // recomputed to match, so only the Merkle path can give it away.
    String rate = "\"annual_rate\":\"" + created.getQuote().getAnnualRate() + "\"";
    String record = proof.getRecord().toStringUtf8();
    if (!record.contains(rate)) {
      out.println("forged_record=skipped (no " + rate + " in the record)");
      return true;
    }
    ByteString forged = ByteString.copyFromUtf8(record.replace(rate, "\"annual_rate\":\"0.01\""));
    GetQuoteProofResponse.Builder lie = proof.toBuilder().setRecord(forged);
    lie.getAuditPositionBuilder()
        .setLeafHash(HexFormat.of().formatHex(MerkleProofs.leafHash(forged.toByteArray())));
    try {
      QuoteProofs.verify(lie.build(), quoteId, verifier);
      out.println("forged_record=accepted");
      return false;
    } catch (ProofException e) {
      out.println("forged_record=rejected reason=" + e.getMessage());
      return true;
    }
  }

  /**
   * The borrower of the README's worked example (and of
   * clients/python/examples/lvtanrong_quote.py), so all three print the same K and rate: a
   * smelter whose 1,050,000 tCO2 for 200,000 t of aluminium the server grades 1 (K = 0.5761),
   * AA, 12 months, 10,000,000 CNY in equal instalments.
   */
  static CreateQuoteRequest lvtanrong(Timestamp pricingTime) {
    CreateQuoteRequest.Builder request =
        CreateQuoteRequest.newBuilder()
            .setProductId("lvtanrong")
            .setBorrowerId("XJ-ALU-0001")
            .setCreditRating("AA")
            .setPrincipalFen(1_000_000_000L) // fen: money never travels as a float
            .setTermMonths(12)
            .setRepaymentMethod(RepaymentMethod.REPAYMENT_METHOD_EQUAL_INSTALLMENT)
            .setCarbonEmissions(
                CarbonEmissions.newBuilder()
                    .setIndustry(Industry.INDUSTRY_ELECTROLYTIC_ALUMINIUM)
                    .setEmissionsTco2("1050000")
                    .setOutputQuantity("200000")
                    .setPeriodEnd("2026-06-30")
                    .setPlatformId("changji-carbon-account"));
    if (pricingTime != null) {
      request.setPricingTime(pricingTime);
    }
    return request.build();
  }

  /** An RFC 3339 instant with its UTC offset (Beijing and UTC can differ by a pricing day). */
  static Timestamp pricingTime(String value) {
    if ("now".equals(value)) {
      return null;
    }
    Instant instant = OffsetDateTime.parse(value).toInstant();
    return Timestamp.newBuilder()
        .setSeconds(instant.getEpochSecond())
        .setNanos(instant.getNano())
        .build();
  }

  private static Map<String, String> parse(String[] args) {
    Map<String, String> opts = new HashMap<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument " + arg);
      }
      String name = arg.substring(2);
      String value = null;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      }
      if (!OPTIONS.contains(name)) {
        throw new IllegalArgumentException("unknown option --" + name);
      }
      if (value == null) {
        if (i + 1 >= args.length) {
          throw new IllegalArgumentException("--" + name + " needs a value");
        }
        value = args[++i];
      }
      opts.put(name, value);
    }
    return opts;
  }

  private static String usage() {
    return String.join(
        "\n",
        List.of(
            "usage: QuoteExample [--target host:port] [--public-key audit.vkey]",
            "                    [--ca ca.pem [--cert client.pem --key client-key.pem]]",
            "                    [--request-id ID] [--pricing-time RFC3339|now]"
                + " [--timeout SECONDS] [--caller-id ID]",
            "  --target        server (default " + PricingClient.DEFAULT_TARGET + ")",
            "  --public-key    the log's verifier key (the server's audit.vkey): also verify",
            "                  the checkpoint's Ed25519 signature, not only the Merkle path",
            "  --ca            TLS: trust this CA for the server; --cert/--key add mTLS",
            "  --pricing-time  default " + DEFAULT_PRICING_TIME + "; 'now' = server clock",
            "  --timeout       deadline of each attempt in seconds (default 5)"));
  }
}
