import { describe, expect, it } from "vitest";
import { bidRows, leaseShort, memberEvents, blockIntervals, bytes, costSoFar, filterTemplates, formatDec, groupRows, parseDec, settlement, splitFrames } from "../src/logic";

describe("groupRows", () => {
  it("summarizes what the ledger auctions", () => {
    const groups = [
      {
        name: "dcloud",
        resources: [
          {
            resource: {
              cpu: { units: { val: "8000" } },
              memory: { size: { val: String(64 * 1024 ** 3) } },
              gpu: { units: { val: "4" }, attributes: [{ key: "vendor/nvidia/model/h100/interface/sxm" }] },
            },
            count: 2,
            price: { denom: "uact", amount: "1000.000000000000000000" },
          },
        ],
      },
    ];
    expect(groupRows(groups)).toEqual([
      { group: "dcloud", count: 2, cpu: "8", memory: "64Gi", gpu: "4 × nvidia h100", price: "1000 uact/block" },
    ]);
  });
  it("is empty for an invalid SDL", () => {
    expect(groupRows(null)).toEqual([]);
  });
});

describe("bytes", () => {
  it("uses the largest exact binary unit", () => {
    expect(bytes(67108864)).toBe("64Mi");
    expect(bytes(1000)).toBe("1000");
  });
});

describe("filterTemplates", () => {
  const list = [
    { name: "hello", title: "Hello", services: ["web"], gpus: [] },
    { name: "gpu-training", title: "Training", services: ["trainer"], gpus: ["nvidia h100"] },
  ];
  it("matches every word anywhere", () => {
    expect(filterTemplates(list, "h100 train").map((t) => t.name)).toEqual(["gpu-training"]);
    expect(filterTemplates(list, "").length).toBe(2);
    expect(filterTemplates(list, "nothing")).toEqual([]);
  });
});

describe("blockIntervals", () => {
  it("orders by height", () => {
    expect(blockIntervals([{ height: 3, time_ms: 3000 }, { height: 2, time_ms: 1500 }])).toEqual([
      { height: 3, seconds: 1.5 },
    ]);
  });
});

describe("streams and money", () => {
  it("splits newline-delimited frames and keeps the unfinished rest", () => {
    const { frames, rest } = splitFrames('{"type":"log","line":"a"}\n\n{"type":"heartbeat"}\nnot json\n{"type":"lo');
    expect(frames).toEqual([{ type: "log", line: "a" }, { type: "heartbeat" }, { type: "garbled", line: "not json" }]);
    expect(rest).toBe('{"type":"lo');
  });

  it("reads and writes the ledger's fixed point exactly", () => {
    expect(parseDec("5.000000000000000000")).toBe(5n * 10n ** 18n);
    expect(parseDec("0.5")).toBe(5n * 10n ** 17n);
    expect(formatDec(parseDec("1234.567890000000000000"))).toBe("1234.56");
    expect(formatDec(parseDec("9.562500000000000000"), 4)).toBe("9.5625");
    expect(formatDec(parseDec("7"), 0)).toBe("7");
  });

  it("costs an active lease its price for every block since the last settlement", () => {
    const lease = { state: "active", price: { amount: "5.000000000000000000" }, accrued: "10.000000000000000000", paying_since: 3 };
    expect(formatDec(costSoFar(lease, { settled_at: 5 }, 12))).toBe("45.00");
    expect(formatDec(costSoFar({ ...lease, state: "closed" }, { settled_at: 5 }, 12))).toBe("10.00");
    expect(formatDec(costSoFar({ ...lease, paying_since: null }, { settled_at: 5 }, 12))).toBe("10.00");
  });

  it("shows a close's settlement from its events", () => {
    const id = { owner: "o", dseq: 2, gseq: 1, oseq: 1, provider: "stratus1dr9z96q82a9tutz79pw4n99srvaj5n825r6eha" };
    const rows = settlement([
      { kind: "lease_closed", id, reason: "owner", accrued: "45.000000000000000000", paid: { denom: "uact", amount: "45" }, blocks: 9 },
      { kind: "lease_withdrawn", lease: id, to_provider: { denom: "uact", amount: "44" }, take: { denom: "uact", amount: "1" } },
      { kind: "escrow_refunded", deployment: {}, depositor: "stratus146r6p74czvfrhwuvw39hqx6q8gjv0tkrq67hez", amount: { denom: "uact", amount: "4999955" } },
      { kind: "transfer" },
    ]);
    expect(rows.map((r) => r.amount)).toEqual(["45.00", "45 uact", "44 uact", "1 uact", "4999955 uact"]);
    expect(rows[0].what).toBe("lease 2/1/1: 9 blocks accrued");
  });

  it("describes each bid with the provider's GPUs, region, auditors and benchmarks", () => {
    const provider = "stratus1av020nmg45w0at92xrj647w6autlxpjkfquhym";
    const rows = bidRows(
      [{ id: { provider, gseq: 1 }, state: "open", price: { denom: "uact", amount: "9.562500000000000000" } }],
      [{ owner: provider, attributes: [
        { key: "capabilities/gpu/vendor/nvidia/model/h100", value: "true" },
        { key: "capabilities/gpu/vendor/nvidia/model/h100/ram/80Gi", value: "true" },
        { key: "region", value: "us-west" },
      ] }],
      { [provider]: ["auditor1"] },
      [{ provider, figures: { gpu_model: "h100", tflops_bf16_milli: 712345, training_tokens_per_s: 9000 } }],
    );
    expect(rows[0]).toEqual({
      provider, state: "open", price: "9.5625 uact/block", gpu: "nvidia h100", region: "us-west",
      audited: "auditor1", benchmark: "h100: 712 TFLOPS bf16, 9000 tok/s",
    });
  });
});

describe("training jobs", () => {
  it("tells what happened to the members in words", () => {
    expect(
      memberEvents([
        { type: "started", round: 1 },
        { type: "member", event: "left", name: "worker-2", reason: "silent past the deadline", round: 9 },
        { type: "member", event: "joined", name: "worker-2", round: 12 },
        { type: "resumed", round: 3, step: 96 },
        { type: "warning", message: "slow upload" },
        { type: "warning", message: "checkpoint of round 230 skipped" },
        { type: "warning", message: "checkpoint of round 286 skipped" },
        { type: "warning", message: "checkpoint of round 299 skipped" },
        { type: "member", event: "left", name: "worker-1", round: 300 },
      ]),
    ).toEqual([
      "round 1: training started",
      "round 9: worker-2 left (silent past the deadline)",
      "round 12: worker-2 joined",
      "round 3: resumed from the checkpoint at step 96",
      "warning: slow upload",
      "warning (3 times): checkpoint of round 230 skipped … last: checkpoint of round 299 skipped",
      "round 300: worker-1 left",
    ]);
    expect(leaseShort("stratus1o/31/1/2/stratus1p")).toBe("31/1/2");
    expect(leaseShort("odd")).toBe("odd");
  });
});
