package cn.ecoloan.pricing.client;

/**
 * What {@link QuoteProofs#verify} established: the quote's record is leaf {@code leafIndex}
 * (hash {@code leafHashHex}) of the tree that {@code checkpoint} commits to.
 *
 * @param signedBy the key ({@code name+keyid}) whose signature on the checkpoint verified, or
 *     empty when no key was given and the checkpoint's signature was not checked
 */
public record VerifiedProof(
    Checkpoint checkpoint, long leafIndex, String leafHashHex, String signedBy) {

  /** Whether the checkpoint's signature was verified (otherwise only the Merkle path was). */
  public boolean signatureVerified() {
    return !signedBy.isEmpty();
  }
}
