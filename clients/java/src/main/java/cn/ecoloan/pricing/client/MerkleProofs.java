package cn.ecoloan.pricing.client;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;

/**
 * RFC 6962 §2.1 Merkle tree hashing and inclusion-proof verification.
 *
 * <p>Leaf hash {@code SHA-256(0x00 || data)}, interior node {@code SHA-256(0x01 || left ||
 * right)}. The verification is the algorithm of RFC 9162 §2.1.3.2, which states precisely how
 * to fold an RFC 6962 §2.1.1 audit path from leaf to root: every length and index is checked
 * before a hash is trusted, because a verifier that accepts a forged proof is worse than none.
 */
public final class MerkleProofs {
  /** Size in bytes of every hash in the tree. */
  public static final int HASH_SIZE = 32;

  private MerkleProofs() {}

  /** {@code SHA-256(0x00 || data)}. */
  public static byte[] leafHash(byte[] data) {
    MessageDigest sha256 = sha256();
    sha256.update((byte) 0x00);
    sha256.update(data);
    return sha256.digest();
  }

  /** {@code SHA-256(0x01 || left || right)}. */
  public static byte[] nodeHash(byte[] left, byte[] right) {
    MessageDigest sha256 = sha256();
    sha256.update((byte) 0x01);
    sha256.update(left);
    sha256.update(right);
    return sha256.digest();
  }

  /**
   * The root hash that {@code auditPath} proves for leaf {@code leafIndex} of a tree of {@code
   * treeSize} leaves. Compare it with the checkpoint's root in constant time ({@link
   * MessageDigest#isEqual}); a proof that cannot belong to such a tree is refused here.
   */
  public static byte[] rootFromInclusionProof(
      long leafIndex, long treeSize, byte[] leafHash, List<byte[]> auditPath)
      throws ProofException {
    if (treeSize <= 0 || leafIndex < 0 || leafIndex >= treeSize) {
      throw new ProofException(
          "leaf index " + leafIndex + " is not inside a tree of size " + treeSize);
    }
    if (leafHash.length != HASH_SIZE) {
      throw new ProofException("leaf hash has " + leafHash.length + " bytes, want 32");
    }
    long fn = leafIndex;
    long sn = treeSize - 1;
    byte[] r = leafHash;
    for (byte[] p : auditPath) {
      if (p.length != HASH_SIZE) {
        throw new ProofException("audit path hash has " + p.length + " bytes, want 32");
      }
      if (sn == 0) {
        throw new ProofException("audit path is longer than the tree is high");
      }
      if ((fn & 1) == 1 || fn == sn) {
        r = nodeHash(p, r);
        // A right-border node without a sibling at this level: climb until it has one.
        if ((fn & 1) == 0) {
          while ((fn & 1) == 0 && fn != 0) {
            fn >>= 1;
            sn >>= 1;
          }
        }
      } else {
        r = nodeHash(r, p);
      }
      fn >>= 1;
      sn >>= 1;
    }
    if (sn != 0) {
      throw new ProofException("audit path is shorter than the tree is high");
    }
    return r;
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }
}
