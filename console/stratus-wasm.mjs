// Loads Stratus's WebAssembly build (crates/wasm) and calls it: the same SDL parser, and the same
// diagnostics (line, column, message), as `stratus sdl check`; and provider-gateway tokens.
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
  };
}
