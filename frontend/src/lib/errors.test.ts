import { describe, expect, it } from "vitest";
import { describeClose, describeError } from "./errors";

describe("describeError", () => {
  it("says how long to wait when rate limited", () => {
    expect(describeError({ code: "rate_limited", message: "rate", retry_after_s: 2.2 })).toMatch(/wait 3 seconds/);
    expect(describeError({ code: "rate_limited", message: "rate", retry_after_s: 1 })).toMatch(/wait 1 second /);
    expect(describeError({ code: "rate_limited", message: "rate" })).toMatch(/wait a moment/);
  });
  it("has words for every protocol error code and keeps correlation ids", () => {
    for (const code of ["invalid_json", "frame_too_large", "unknown_type", "missing_field", "invalid_thread_id", "content_too_long", "run_active", "no_pending_interrupt", "forbidden", "session_expired"]) {
      expect(describeError({ code, message: "x" })).not.toBe("x");
    }
    expect(describeError({ code: "run_active", message: "" })).toMatch(/still answering/);
    expect(describeError({ code: "internal", message: "Internal error (ref 3f9a1c2d7e)" })).toMatch(/3f9a1c2d7e/);
    expect(describeError({ code: "made_up", message: "Server words" })).toBe("Server words");
  });
  it("explains a 4001 close", () => {
    expect(describeClose(4001, "expired")).toMatch(/sign in again/);
    expect(describeClose(1006, "")).toBeNull();
  });
});
