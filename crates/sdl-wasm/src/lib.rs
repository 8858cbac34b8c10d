//! `stratus-sdl` for the browser. Built for `wasm32-unknown-unknown`, it exports plain functions
//! over WebAssembly memory (no generated bindings, so no extra tool to build it):
//!
//! - `sdl_alloc(len) -> ptr`: room for the input, which the caller writes there;
//! - `sdl_check(ptr, len) -> (out_ptr << 32) | out_len`: the UTF-8 JSON of [`check`];
//! - `sdl_groups(ptr, len) -> (out_ptr << 32) | out_len`: the UTF-8 JSON of [`groups`];
//! - `sdl_free(ptr, len)`: gives back an output (or an input) buffer.
//!
//! `console/src/sdl.ts` is the loader; `tests/` runs this build under Node against the native
//! parser on the whole corpus.

/// The same report `stratus sdl check --json` prints for a file (without the file name).
pub fn check(input: &[u8]) -> String {
    serde_json::to_string(&stratus_sdl::parse(input).report()).unwrap_or_default()
}

/// The deployment groups a valid SDL produces (what the ledger auctions: resources, GPUs, price),
/// or `null` when it has errors.
pub fn groups(input: &[u8]) -> String {
    match stratus_sdl::parse(input).sdl {
        Some(sdl) => serde_json::to_string(&sdl.groups).unwrap_or_default(),
        None => "null".into(),
    }
}

#[cfg(target_arch = "wasm32")]
mod exports {
    #![allow(unsafe_code)]

    /// Packs a returned buffer (leaked until `sdl_free`) as `(ptr << 32) | len`.
    fn hand_out(text: String) -> u64 {
        let bytes = text.into_bytes().into_boxed_slice();
        let len = bytes.len() as u64;
        let ptr = Box::into_raw(bytes) as *mut u8 as usize as u64;
        (ptr << 32) | len
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn sdl_alloc(len: usize) -> *mut u8 {
        Box::into_raw(vec![0u8; len].into_boxed_slice()) as *mut u8
    }

    /// # Safety
    /// `ptr` and `len` come from `sdl_alloc` or an output of this module, and are freed once.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn sdl_free(ptr: *mut u8, len: usize) {
        // SAFETY: the caller passes back a buffer this module handed out, with its length.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }

    /// # Safety
    /// `ptr..ptr+len` is a buffer from `sdl_alloc` that the caller filled.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn sdl_check(ptr: *const u8, len: usize) -> u64 {
        // SAFETY: see above; the input is only read.
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        hand_out(super::check(input))
    }

    /// # Safety
    /// As for `sdl_check`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn sdl_groups(ptr: *const u8, len: usize) -> u64 {
        // SAFETY: see `sdl_check`.
        let input = unsafe { std::slice::from_raw_parts(ptr, len) };
        hand_out(super::groups(input))
    }
}
