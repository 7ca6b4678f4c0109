import { afterEach, describe, expect, it, vi } from "vitest";
import { logger } from "../log";

describe("logger", () => {
  afterEach(() => vi.restoreAllMocks());

  it("drops messages below [log].level and always writes errors", () => {
    const seen: string[] = [];
    for (const m of ["debug", "log", "warn", "error"] as const)
      vi.spyOn(console, m).mockImplementation((msg: string) => void seen.push(`${m}:${msg}`));
    const warnOnly = logger({ LH_LOG_LEVEL: "warn" }, "svc");
    warnOnly.debug("d");
    warnOnly.info("i");
    warnOnly.warn("w");
    warnOnly.error("e");
    expect(seen).toEqual(["warn:[svc] w", "error:[svc] e"]);
    seen.length = 0;
    const all = logger({ LH_LOG_LEVEL: "debug" }, "svc");
    all.debug("d");
    all.info("i");
    expect(seen).toEqual(["debug:[svc] d", "log:[svc] i"]);
    seen.length = 0;
    logger({ LH_LOG_LEVEL: "error" }, "svc").warn("w");
    expect(seen).toEqual([]);
  });
});
