//! Drawing: the canvas a decoded picture goes into ([`Surface`]: the page's `<canvas>`,
//! the fallback, or the `OffscreenCanvas` the page transferred to the worker; either
//! follows the size of the pictures drawn into it), a tile's, and the detections
//! overlay's boxes and labels.

use js_sys::Promise;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::{
    CanvasRenderingContext2d, HtmlCanvasElement, ImageBitmap, OffscreenCanvas,
    OffscreenCanvasRenderingContext2d,
};

/// One box to draw, in image fractions (`wire::detections`).
pub struct Mark {
    pub bbox: [f64; 4],
    pub label: String,
    pub colour: &'static str,
}

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

    /// Draws detections over a `width`×`height` picture (this canvas takes that size):
    /// each box stroked in its producer's colour, its label above it reading upright
    /// however the page turns the canvas (`degrees` clockwise, then `mirror`).
    pub fn draw_marks(&self, width: u32, height: u32, marks: &[Mark], degrees: u32, mirror: bool) {
        // The same calls on either kind of 2D context.
        macro_rules! paint {
            ($canvas:expr, $ctx:expr) => {{
                let (canvas, ctx) = ($canvas, $ctx);
                if canvas.width() != width || canvas.height() != height {
                    canvas.set_width(width);
                    canvas.set_height(height);
                }
                ctx.clear_rect(0.0, 0.0, f64::from(width), f64::from(height));
                let (w, h) = (f64::from(width), f64::from(height));
                let line = (w.min(h) / 200.0).max(2.0);
                let font = (w.min(h) / 28.0).max(12.0);
                ctx.set_line_width(line);
                // Whole pixels: `{font}` of an f64 would link the shortest-float formatter
                // (+36 KB of wasm, measured).
                ctx.set_font(&format!("600 {}px system-ui, sans-serif", font as u32));
                ctx.set_text_baseline("bottom");
                for m in marks {
                    let [x, y, bw, bh] = m.bbox;
                    let (x, y, bw, bh) = (x * w, y * h, bw * w, bh * h);
                    ctx.set_stroke_style_str(m.colour);
                    ctx.stroke_rect(x, y, bw, bh);
                    // The label: upright for the viewer, at the box's top-left corner as
                    // seen on screen.
                    let text_w = ctx.measure_text(&m.label).map_or(0.0, |t| t.width());
                    let _ = ctx.save();
                    let _ = ctx.translate(x, y);
                    if mirror {
                        let _ = ctx.translate(bw, 0.0);
                        let _ = ctx.scale(-1.0, 1.0);
                    }
                    let _ = ctx.rotate(-f64::from(degrees).to_radians());
                    ctx.set_fill_style_str(m.colour);
                    ctx.fill_rect(0.0, -font - 4.0, text_w + 8.0, font + 4.0);
                    ctx.set_fill_style_str("#000");
                    let _ = ctx.fill_text(&m.label, 4.0, -2.0);
                    let _ = ctx.restore();
                }
            }};
        }
        match self {
            Surface::Element(canvas, ctx) => paint!(canvas, ctx),
            Surface::Offscreen(canvas, ctx) => paint!(canvas, ctx),
        }
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
