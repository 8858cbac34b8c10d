// Loads Stratus's WebAssembly build (crates/wasm) and calls it: the same SDL parser, and the same
// diagnostics (line, column, message), as `stratus sdl check`; provider-gateway tokens; and the
// wallet: keys from mnemonics, transactions signed exactly as the CLI signs them. Every call
// answers a plain object; a failure is {error: "what and where"}.
// Works in browsers and Node.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** @param {BufferSource} bytes the .wasm file */
export async function loadStratusWasm(bytes) {
  const { instance } = await WebAssembly.instantiate(bytes, {});
  const x = instance.exports;
  const call = (fn, text) => {
    const input = encoder.encode(text);
    const ptr = x.sdl_alloc(input.length);
    new Uint8Array(x.memory.buffer, ptr, input.length).set(input);
    const packed = fn(ptr, input.length);
    x.sdl_free(ptr, input.length);
    const outPtr = Number(packed >> 32n);
    const outLen = Number(packed & 0xffffffffn);
    const json = decoder.decode(new Uint8Array(x.memory.buffer, outPtr, outLen).slice());
    x.sdl_free(outPtr, outLen);
    return JSON.parse(json);
  };
  return {
    /** {valid, errors: [{line, column, message}], warnings: [...]} */
    check: (text) => call(x.sdl_check, text),
    /** the deployment groups (resources, GPUs, price), or null when the SDL has errors */
    groups: (text) => call(x.sdl_groups, text),
    /** {sign_bytes: hex} for token claims {public_key, provider, scopes, dseq, issued_at_ms, expires_at_ms} */
    tokenSignBytes: (claims) => call(x.token_sign_bytes, JSON.stringify(claims)),
    /** {token: hex}, the Authorization: Bearer value, for the claims plus {signature: hex} */
    tokenEncode: (claims) => call(x.token_encode, JSON.stringify(claims)),
    /** {token} signed in the page: {secret_key, provider, scopes, dseq, now_ms, lifetime_ms} */
    tokenSign: (input) => call(x.token_sign, JSON.stringify(input)),
    /** {secret_key, public_key, address} from {mnemonic} (the CLI keyring's derivation) */
    keyFromMnemonic: (mnemonic) => call(x.key_from_mnemonic, JSON.stringify({ mnemonic })),
    /** {secret_key, public_key, address} from {secret_key: hex} */
    keyFromSecret: (secret_key) => call(x.key_from_secret, JSON.stringify({ secret_key })),
    /** {mnemonic}: 24 words from 32 bytes of entropy, hex */
    mnemonicNew: (entropy) => call(x.mnemonic_new, JSON.stringify({ entropy })),
    /** {msg, version, manifest} for {sdl, dseq, deposit: "5000000uact", gang} */
    deploymentCreate: (input) => call(x.deployment_create, JSON.stringify(input)),
    /** {tx: hex, hash} for {secret_key, chain_id, sequence, fee | params, memo, msgs} */
    txSign: (input) => call(x.tx_sign, JSON.stringify(input)),
    /** {groups: [{group, fit: [address], refused: [{provider, reason}]}]} for {sdl, providers, audits, aliases} */
    placementPreview: (input) => call(x.placement_preview, JSON.stringify(input)),
  };
}
