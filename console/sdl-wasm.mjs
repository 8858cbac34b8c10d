// Loads stratus-sdl's WebAssembly build (crates/sdl-wasm) and calls it: the same parser, and the
// same diagnostics (line, column, message), as `stratus sdl check`. Works in browsers and Node.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** @param {BufferSource} bytes the .wasm file */
export async function loadSdl(bytes) {
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
  };
}
