import { describe, expect, it } from "vitest";
import { blockIntervals, bytes, filterTemplates, groupRows } from "../src/logic";

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
