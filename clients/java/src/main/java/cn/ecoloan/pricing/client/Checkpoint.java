package cn.ecoloan.pricing.client;

import java.util.Arrays;
import java.util.Base64;
import java.util.regex.Pattern;

/**
 * A tlog checkpoint (c2sp.org/tlog-checkpoint): the log's origin, tree size and RFC 6962 root
 * hash, the text of a signed note.
 *
 * <p>Parsing is strict (no leading zeros, canonical base64, exact hash length) because a lenient
 * parser is how two readers come to disagree about what a signed text says.
 */
public record Checkpoint(String origin, long size, byte[] rootHash) {
  private static final Pattern DECIMAL = Pattern.compile("0|[1-9][0-9]*");

  public Checkpoint {
    rootHash = rootHash.clone();
  }

  @Override
  public byte[] rootHash() {
    return rootHash.clone();
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof Checkpoint c
        && origin.equals(c.origin)
        && size == c.size
        && Arrays.equals(rootHash, c.rootHash);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * origin.hashCode() + Long.hashCode(size)) + Arrays.hashCode(rootHash);
  }

  @Override
  public String toString() {
    return "Checkpoint[" + marshal().replace("\n", " ").strip() + "]";
  }

  /** Parses checkpoint note text: origin, decimal size, base64 root hash, one per line. */
  public static Checkpoint parse(String text) throws ProofException {
    if (!text.endsWith("\n")) {
      throw new ProofException("checkpoint text must end in a newline");
    }
    String[] lines = text.substring(0, text.length() - 1).split("\n", -1);
    if (lines.length < 3) {
      throw new ProofException("checkpoint needs at least 3 lines, got " + lines.length);
    }
    String origin = lines[0];
    if (origin.isEmpty()) {
      throw new ProofException("checkpoint origin is empty");
    }
    if (!DECIMAL.matcher(lines[1]).matches()) {
      throw new ProofException("checkpoint size is not a decimal: " + lines[1]);
    }
    long size;
    try {
      // Unsigned, as in every tlog implementation; a size beyond Long.MAX_VALUE cannot be a
      // tree this client can index, so it is refused below.
      size = Long.parseUnsignedLong(lines[1]);
    } catch (NumberFormatException e) {
      throw new ProofException("checkpoint size out of range: " + lines[1], e);
    }
    if (size < 0) {
      throw new ProofException("checkpoint size too large: " + lines[1]);
    }
    byte[] root = Notes.decodeBase64Strict(lines[2], "checkpoint root hash");
    if (root.length != MerkleProofs.HASH_SIZE) {
      throw new ProofException("checkpoint root hash has " + root.length + " bytes, want 32");
    }
    for (int i = 3; i < lines.length; i++) {
      if (lines[i].isEmpty()) {
        throw new ProofException("checkpoint extension lines must be non-empty");
      }
    }
    return new Checkpoint(origin, size, root);
  }

  /** The text this checkpoint is signed as. */
  public String marshal() {
    return origin + "\n" + size + "\n" + Base64.getEncoder().encodeToString(rootHash) + "\n";
  }
}
