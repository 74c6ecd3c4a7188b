package cn.ecoloan.pricing.client;

/**
 * A quote proof, checkpoint or signed note did not verify, or was malformed.
 *
 * <p>Checked on purpose: a proof that fails is evidence that the log (or the network) is not
 * telling the truth, and the caller must decide what to do about it.
 */
public final class ProofException extends Exception {
  private static final long serialVersionUID = 1L;

  public ProofException(String message) {
    super(message);
  }

  public ProofException(String message, Throwable cause) {
    super(message, cause);
  }
}
