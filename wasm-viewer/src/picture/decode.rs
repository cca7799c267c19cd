//! The browser's JPEG decoder (`createImageBitmap`, off this thread): the one call in
//! the viewer that turns JPEG bytes into pixels. Which frame it gets, and when, is the
//! presentation's choice ([`present`](crate::picture::present)).

use std::future::Future;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, ImageBitmap};

use crate::scope::scope;

/// A JPEG `Blob` of `jpeg`, copied straight out of WASM memory.
fn jpeg_blob(jpeg: &[u8]) -> Result<Blob, JsValue> {
    let options = BlobPropertyBag::new();
    options.set_type("image/jpeg");
    // SAFETY: the view is only read by the `Blob` constructor, which copies it before
    // returning; nothing allocates in WASM memory (which could move it) in between.
    let view = unsafe { Uint8Array::view(jpeg) };
    Blob::new_with_u8_array_sequence_and_options(&Array::of1(&view), &options)
}

/// Starts the browser's decoder on a JPEG (off this thread); the future gives the picture.
pub fn decode(jpeg: &[u8]) -> impl Future<Output = Result<ImageBitmap, JsValue>> {
    let promise = jpeg_blob(jpeg).and_then(|blob| scope().create_image_bitmap(&blob));
    async move { JsFuture::from(promise?).await?.dyn_into::<ImageBitmap>() }
}
