import { account, faucet, status } from "../api";
import { button, el, fact } from "../ui";
import { currentKey, forgetKey, importKey, newMnemonic } from "../wallet";

/** The tab's key: import from a mnemonic (as the CLI keyring stores it) or make a new one, see
 * its balances, ask a devnet's faucet for funds. */
export async function keyPage(root: HTMLElement): Promise<void> {
  const s = await status();
  const out = el("div", { id: "key-result", "aria-live": "polite" });
  const key = currentKey();
  root.append(el("h1", {}, "Key"));
  if (key) {
    const balances = el("dd", { id: "balances" }, "…");
    root.append(el("dl", { class: "facts" }, ...fact("Address", key.address, "address"), el("dt", {}, "Balances"), balances));
    const refresh = async () => {
      const a = await account(key.address).catch(() => null);
      balances.textContent = a?.balances.length ? a.balances.map((b) => `${b.amount} ${b.denom}`).join(", ") : "none";
    };
    await refresh();
    const actions = el("p", { class: "actions" });
    if (s.faucet) {
      actions.append(
        button("Get devnet funds from the faucet", { id: "faucet" }, out, async () => {
          await faucet(key.address);
          await refresh();
          out.replaceChildren(el("p", { class: "ok" }, "Funded."));
        }),
      );
    }
    actions.append(
      button("Forget this key", { id: "forget" }, out, async () => {
        forgetKey();
        location.reload();
      }),
    );
    root.append(actions, out);
    return;
  }
  const words = el("textarea", {
    id: "mnemonic",
    rows: "3",
    spellcheck: "false",
    autocomplete: "off",
    "aria-label": "Mnemonic",
    placeholder: "24 words (or a hex private key), as `stratus keys export` prints them",
  }) as HTMLTextAreaElement;
  const fresh = el("div", { id: "fresh" });
  root.append(
    el(
      "p",
      {},
      "Your key stays in this browser tab (it is gone when the tab closes) and is never sent anywhere: the console signs transactions and provider tokens here, with the CLI's own code compiled to WebAssembly.",
    ),
    el("h2", {}, "Import a key"),
    el("div", { class: "stack" }, words),
    el(
      "p",
      { class: "actions" },
      button("Import", { id: "import" }, out, async () => {
        await importKey(words.value);
        location.reload();
      }),
      button("Make a new key", { id: "generate" }, out, async () => {
        const mnemonic = await newMnemonic();
        await importKey(mnemonic);
        fresh.replaceChildren(
          el("p", { class: "warning" }, "Write these words down: they are the only way back to this key."),
          el("pre", { id: "new-mnemonic" }, mnemonic),
          el("p", {}, button("Done", { id: "done" }, out, async () => location.reload())),
        );
      }),
    ),
    fresh,
    out,
  );
}
