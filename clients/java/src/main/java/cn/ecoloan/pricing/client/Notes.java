package cn.ecoloan.pricing.client;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;

/** C2SP signed notes (c2sp.org/signed-note): the text, a blank line, one signature per line. */
final class Notes {
  private static final String SIG_PREFIX = "\u2014 "; // em dash, space
  private static final int MAX_SIGNATURES = 100;

  private Notes() {}

  /** Key names: non-empty, no '+', no spaces or control characters. */
  static boolean isValidName(String name) {
    if (name.isEmpty() || name.indexOf('+') >= 0) {
      return false;
    }
    return name.codePoints()
        .noneMatch(c -> c < 0x20 || Character.isWhitespace(c) || Character.isSpaceChar(c));
  }

  /** Standard padded base64, refusing any non-canonical spelling of the same bytes. */
  static byte[] decodeBase64Strict(String text, String what) throws ProofException {
    byte[] raw;
    try {
      raw = Base64.getDecoder().decode(text);
    } catch (IllegalArgumentException e) {
      throw new ProofException(what + ": invalid base64", e);
    }
    // The decoder tolerates non-zero trailing bits, so the same bytes could be written several
    // ways; re-encoding rules that out.
    if (!Base64.getEncoder().encodeToString(raw).equals(text)) {
      throw new ProofException(what + ": non-canonical base64");
    }
    return raw;
  }

  /** The note's text (up to and including the newline before the last blank line). */
  static String text(String note) throws ProofException {
    return split(note)[0];
  }

  /**
   * Verifies the note's signature by {@code verifier} and returns its text. Signatures by other
   * keys (witness cosignatures) are ignored, as the spec requires; at least one by this key must
   * be present and every one by this key must verify.
   */
  static String open(String note, NoteVerifier verifier) throws ProofException {
    String[] parts = split(note);
    String text = parts[0];
    String block = parts[1];
    String[] lines = block.substring(0, block.length() - 1).split("\n", -1);
    if (lines.length > MAX_SIGNATURES) {
      throw new ProofException("malformed note: more than " + MAX_SIGNATURES + " signatures");
    }
    byte[] message = text.getBytes(StandardCharsets.UTF_8);
    boolean verified = false;
    for (int n = 0; n < lines.length; n++) {
      String line = lines[n];
      if (!line.startsWith(SIG_PREFIX)) {
        throw new ProofException("malformed note: signature line " + (n + 1));
      }
      String rest = line.substring(SIG_PREFIX.length());
      int space = rest.indexOf(' ');
      if (space <= 0 || space == rest.length() - 1 || !isValidName(rest.substring(0, space))) {
        throw new ProofException("malformed note: signature line " + (n + 1));
      }
      String name = rest.substring(0, space);
      byte[] raw = decodeBase64Strict(rest.substring(space + 1), "signature line " + (n + 1));
      if (raw.length < 5) {
        throw new ProofException("malformed note: signature line " + (n + 1) + " is too short");
      }
      int keyId = ByteBuffer.wrap(raw, 0, 4).getInt();
      if (!name.equals(verifier.name()) || keyId != verifier.keyId()) {
        continue;
      }
      if (!verifier.verify(message, Arrays.copyOfRange(raw, 4, raw.length))) {
        throw new ProofException("invalid signature by " + verifier);
      }
      verified = true;
    }
    if (!verified) {
      throw new ProofException("the note has no signature by " + verifier);
    }
    return text;
  }

  private static String[] split(String note) throws ProofException {
    for (int i = 0; i < note.length(); i++) {
      char c = note.charAt(i);
      if (c < 0x20 && c != '\n') {
        throw new ProofException("malformed note: control character");
      }
    }
    int blank = note.lastIndexOf("\n\n");
    if (blank < 0) {
      throw new ProofException("malformed note: no blank line before the signatures");
    }
    String text = note.substring(0, blank + 1);
    String block = note.substring(blank + 2);
    if (block.isEmpty() || !block.endsWith("\n")) {
      throw new ProofException("malformed note: the signature block must end in a newline");
    }
    return new String[] {text, block};
  }
}
