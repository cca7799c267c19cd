//! The page's DOM, as every part of the page reaches it: the window, the document, and
//! an element of `index.html` by id (which must be there: a missing one is a bug in
//! the page, not in the input).

use wasm_bindgen::JsCast;

pub(crate) fn window() -> web_sys::Window {
    web_sys::window().expect("the viewer runs in a page with a window")
}

pub(crate) fn document() -> web_sys::Document {
    window().document().expect("the page has a document")
}

pub(crate) fn element<T: JsCast>(id: &str) -> T {
    document()
        .get_element_by_id(id)
        .unwrap_or_else(|| panic!("index.html has an element #{id}"))
        .dyn_into::<T>()
        .unwrap_or_else(|_| panic!("#{id} has the expected element type"))
}
