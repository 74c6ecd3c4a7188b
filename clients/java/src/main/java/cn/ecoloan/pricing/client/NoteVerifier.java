package cn.ecoloan.pricing.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PublicKey;
import java.security.Signature;
import java.security.spec.X509EncodedKeySpec;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * Verifies Ed25519 signed-note signatures for one named public key.
 *
 * <p>The key is the server's {@code audit.vkey}, in the golang.org/x/mod/sumdb/note verifier
 * key encoding {@code <name>+<hex key ID>+<base64(0x01 || 32-byte public key)>}, where the key
 * ID is the first 4 bytes of {@code SHA-256(name || 0x0A || 0x01 || public key)}. Obtain it out
 * of band from the log's operator: a key fetched from the server it is meant to check proves
 * nothing.
 */
public final class NoteVerifier {
  private static final int ALG_ED25519 = 0x01;
  private static final int KEY_SIZE = 32;
  private static final Pattern HEX8 = Pattern.compile("[0-9a-fA-F]{8}");
  // DER SubjectPublicKeyInfo header of an Ed25519 key (RFC 8410): the JDK only imports keys
  // wrapped this way, and prefixing the raw key avoids decoding the curve point by hand.
  private static final byte[] ED25519_SPKI_PREFIX =
      HexFormat.of().parseHex("302a300506032b6570032100");

  private final String name;
  private final int keyId;
  private final PublicKey key;

  private NoteVerifier(String name, int keyId, PublicKey key) {
    this.name = name;
    this.keyId = keyId;
    this.key = key;
  }

  /** Parses a verifier key string; refuses one whose key ID does not match its key. */
  public static NoteVerifier parse(String vkey) throws ProofException {
    String[] fields = vkey.split("\\+", 3);
    if (fields.length != 3 || !Notes.isValidName(fields[0]) || !HEX8.matcher(fields[1]).matches()) {
      throw new ProofException("malformed verifier key");
    }
    byte[] raw = Notes.decodeBase64Strict(fields[2], "verifier key");
    if (raw.length == 0 || (raw[0] & 0xff) != ALG_ED25519) {
      throw new ProofException("verifier key is not an Ed25519 key");
    }
    if (raw.length != 1 + KEY_SIZE) {
      throw new ProofException("Ed25519 verifier key has " + (raw.length - 1) + " bytes, want 32");
    }
    byte[] publicKey = Arrays.copyOfRange(raw, 1, raw.length);
    int claimed = Integer.parseUnsignedInt(fields[1], 16);
    int actual = keyId(fields[0], publicKey);
    if (claimed != actual) {
      throw new ProofException(
          "verifier key ID " + fields[1] + " does not match its key (" + hex(actual) + ")");
    }
    try {
      byte[] spki = ByteBuffer.allocate(ED25519_SPKI_PREFIX.length + KEY_SIZE)
          .put(ED25519_SPKI_PREFIX)
          .put(publicKey)
          .array();
      PublicKey key = KeyFactory.getInstance("Ed25519").generatePublic(new X509EncodedKeySpec(spki));
      return new NoteVerifier(fields[0], actual, key);
    } catch (GeneralSecurityException e) {
      throw new ProofException("unusable Ed25519 public key: " + e.getMessage(), e);
    }
  }

  /** Reads a verifier key file (one key, surrounding whitespace ignored). */
  public static NoteVerifier fromFile(Path path) throws IOException, ProofException {
    return parse(Files.readString(path, StandardCharsets.UTF_8).strip());
  }

  /** The key name; for this service's log, its origin line. */
  public String name() {
    return name;
  }

  /** The 32-bit key ID. */
  public int keyId() {
    return keyId;
  }

  /** {@code name+keyid}, as the key is referred to in messages. */
  @Override
  public String toString() {
    return name + "+" + hex(keyId);
  }

  boolean verify(byte[] message, byte[] signature) {
    try {
      Signature ed25519 = Signature.getInstance("Ed25519");
      ed25519.initVerify(key);
      ed25519.update(message);
      return ed25519.verify(signature);
    } catch (GeneralSecurityException e) {
      // A malformed signature (wrong length, bad encoding) is a signature that does not verify.
      return false;
    }
  }

  static int keyId(String name, byte[] publicKey) {
    try {
      MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
      sha256.update(name.getBytes(StandardCharsets.UTF_8));
      sha256.update((byte) '\n');
      sha256.update((byte) ALG_ED25519);
      sha256.update(publicKey);
      return ByteBuffer.wrap(sha256.digest()).getInt();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }

  static String hex(int keyId) {
    return String.format("%08x", keyId);
  }
}
