package cn.ecoloan.pricing.client;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import ecoloan.pricing.v1.PricingServiceOuterClass.AuditPosition;
import ecoloan.pricing.v1.PricingServiceOuterClass.GetQuoteProofResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;

/** Checks a {@code GetQuoteProof} answer: the quote's audit record is in the signed log. */
public final class QuoteProofs {
  private QuoteProofs() {}

  /**
   * Verifies that {@code proof} proves the audit record of quote {@code quoteId} is included in
   * the tree its checkpoint commits to, and, when {@code verifier} is given, that the checkpoint
   * is signed by that key.
   *
   * <p>Without a verifier only the Merkle path is checked against the checkpoint's root: that
   * shows the record is consistent with the checkpoint the server sent, not that the log's key
   * vouches for it. Keep the proof and check it with the operator's key when you have it.
   *
   * <p>Also compare {@code proof.getAuditPosition()} with the position CreateQuote returned for
   * the quote you booked: they must be equal.
   *
   * @throws ProofException if anything does not verify or is malformed
   */
  public static VerifiedProof verify(
      GetQuoteProofResponse proof, String quoteId, NoteVerifier verifier) throws ProofException {
    String note = proof.getCheckpoint();
    String text = verifier == null ? Notes.text(note) : Notes.open(note, verifier);
    Checkpoint checkpoint = Checkpoint.parse(text);
    AuditPosition position = proof.getAuditPosition();
    if (!checkpoint.origin().equals(position.getLogOrigin())) {
      throw new ProofException(
          "checkpoint origin " + checkpoint.origin() + " is not the record's log "
              + position.getLogOrigin());
    }
    if (checkpoint.size() != proof.getTreeSize()) {
      throw new ProofException(
          "checkpoint size " + checkpoint.size() + " is not the proof's tree size "
              + proof.getTreeSize());
    }
    byte[] record = proof.getRecord().toByteArray();
    byte[] leaf = MerkleProofs.leafHash(record);
    String leafHex = HexFormat.of().formatHex(leaf);
    if (!leafHex.equalsIgnoreCase(position.getLeafHash())) {
      throw new ProofException("the record's leaf hash is not the audit position's");
    }
    checkRecordIsTheQuote(record, quoteId, position.getSequence());
    List<byte[]> path = proof.getInclusionProofList().stream().map(ByteString::toByteArray).toList();
    byte[] root =
        MerkleProofs.rootFromInclusionProof(position.getSequence(), proof.getTreeSize(), leaf, path);
    if (!MessageDigest.isEqual(root, checkpoint.rootHash())) {
      throw new ProofException("the audit path does not lead to the checkpoint's root hash");
    }
    return new VerifiedProof(
        checkpoint, position.getSequence(), leafHex, verifier == null ? "" : verifier.toString());
  }

  // The Merkle path only proves *some* record is in the log; this ties it to the quote asked
  // about, so a proof of another record cannot be passed off as this quote's.
  private static void checkRecordIsTheQuote(byte[] record, String quoteId, long sequence)
      throws ProofException {
    try {
      JsonObject data = JsonParser.parseString(new String(record, StandardCharsets.UTF_8))
          .getAsJsonObject();
      JsonElement response = data.get("response");
      boolean matches =
          "quote".equals(string(data.get("kind")))
              && response != null
              && response.isJsonObject()
              && quoteId.equals(string(response.getAsJsonObject().get("quote_id")))
              && data.get("seq") != null
              && data.get("seq").getAsLong() == sequence;
      if (!matches) {
        throw new ProofException("the proven record is not quote " + quoteId + " at " + sequence);
      }
    } catch (JsonParseException | IllegalStateException | UnsupportedOperationException
        | NumberFormatException e) {
      throw new ProofException("the proven record is not a JSON audit record", e);
    }
  }

  private static String string(JsonElement element) {
    return element != null && element.isJsonPrimitive() ? element.getAsString() : null;
  }
}
