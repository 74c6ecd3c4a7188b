package cn.ecoloan.pricing.client;

/** One bad field of a refused request, from {@code google.rpc.BadRequest}. */
public record FieldViolation(String field, String description) {}
