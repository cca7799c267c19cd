//! What the engine draws into: the page's `<canvas>` (the fallback), or the
//! `OffscreenCanvas` the page transferred to the worker. Either follows the size of the
//! pictures drawn into it.

use js_sys::Promise;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, ImageBitmap, OffscreenCanvas,
    OffscreenCanvasRenderingContext2d,
};

pub enum Surface {
    Element(HtmlCanvasElement, CanvasRenderingContext2d),
    Offscreen(OffscreenCanvas, OffscreenCanvasRenderingContext2d),
}

impl Surface {
    pub fn element(canvas: HtmlCanvasElement) -> Result<Surface, JsValue> {
        let ctx = canvas.get_context("2d")?.ok_or("canvas 2d context unavailable")?;
        Ok(Surface::Element(canvas, ctx.dyn_into()?))
    }

    pub fn offscreen(canvas: OffscreenCanvas) -> Result<Surface, JsValue> {
        let ctx = canvas.get_context("2d")?.ok_or("offscreen canvas 2d context unavailable")?;
        Ok(Surface::Offscreen(canvas, ctx.dyn_into()?))
    }

    /// Draws a picture, resizing first when its size changed.
    pub fn draw(&self, bitmap: &ImageBitmap) {
        let (w, h) = (bitmap.width(), bitmap.height());
        match self {
            Surface::Element(canvas, ctx) => {
                if canvas.width() != w || canvas.height() != h {
                    canvas.set_width(w);
                    canvas.set_height(h);
                }
                let _ = ctx.draw_image_with_image_bitmap(bitmap, 0.0, 0.0);
            }
            Surface::Offscreen(canvas, ctx) => {
                if canvas.width() != w || canvas.height() != h {
                    canvas.set_width(w);
                    canvas.set_height(h);
                }
                let _ = ctx.draw_image_with_image_bitmap(bitmap, 0.0, 0.0);
            }
        }
    }

    /// Draws a smaller picture of the same scene (a camera's preview) over the whole
    /// canvas, scaled up, when the shapes agree: the canvas keeps its size, so the full
    /// frames that follow need no resize. Otherwise as [`Surface::draw`].
    pub fn draw_stretched(&self, bitmap: &ImageBitmap) {
        let (w, h) = (f64::from(bitmap.width()), f64::from(bitmap.height()));
        let (cw, ch) = match self {
            Surface::Element(c, _) => (f64::from(c.width()), f64::from(c.height())),
            Surface::Offscreen(c, _) => (f64::from(c.width()), f64::from(c.height())),
        };
        let same_shape = h > 0.0 && ch > 0.0 && ((w / h) / (cw / ch) - 1.0).abs() < 0.02;
        if !same_shape || cw < w {
            return self.draw(bitmap);
        }
        let _ = match self {
            Surface::Element(_, ctx) => {
                ctx.draw_image_with_image_bitmap_and_dw_and_dh(bitmap, 0.0, 0.0, cw, ch)
            }
            Surface::Offscreen(_, ctx) => {
                ctx.draw_image_with_image_bitmap_and_dw_and_dh(bitmap, 0.0, 0.0, cw, ch)
            }
        };
    }

    /// The picture on it now, as a JPEG `Blob`.
    pub fn snapshot(&self) -> Result<Promise, JsValue> {
        match self {
            Surface::Offscreen(canvas, _) => {
                let options = web_sys::ImageEncodeOptions::new();
                options.set_type("image/jpeg");
                options.set_quality(0.92);
                canvas.convert_to_blob_with_options(&options)
            }
            Surface::Element(canvas, _) => {
                let canvas = canvas.clone();
                Ok(Promise::new(&mut |resolve, reject| {
                    let done = Closure::once_into_js(move |blob: JsValue| {
                        let _ = resolve.call1(&JsValue::NULL, &blob);
                    });
                    if let Err(e) = canvas.to_blob_with_type_and_encoder_options(
                        done.unchecked_ref(),
                        "image/jpeg",
                        &0.92.into(),
                    ) {
                        let _ = reject.call1(&JsValue::NULL, &e);
                    }
                }))
            }
        }
    }
}
