//! What this browser keeps across reloads (IndexedDB): the page models'
//! trained weights, one safetensors file per model under its name, and the
//! lab's experiment and runs (`super::lab::keep`). A browser that refuses
//! storage (private mode, quota) only loses the keeping; every call says
//! why instead of failing the page.

use idb::{Database, DatabaseEvent, Factory, ObjectStore, ObjectStoreParams, TransactionMode};
use wasm_bindgen::JsValue;

use super::engine::WeightsKind;

const DB: &str = "neuralpad";
/// Version 2 added the lab's store.
const VERSION: u32 = 2;
const WEIGHTS: &str = "weights";
pub const LAB: &str = "lab";

fn key(kind: WeightsKind) -> JsValue {
    JsValue::from_str(match kind {
        WeightsKind::Digits => "digits",
        WeightsKind::Text => "text",
    })
}

async fn open() -> Result<Database, String> {
    let factory = Factory::new().map_err(|e| e.to_string())?;
    let mut request = factory.open(DB, Some(VERSION)).map_err(|e| e.to_string())?;
    request.on_upgrade_needed(|event| {
        if let Ok(db) = event.database() {
            let have = db.store_names();
            for store in [WEIGHTS, LAB] {
                if !have.iter().any(|s| s == store) {
                    let _ = db.create_object_store(store, ObjectStoreParams::new());
                }
            }
        }
    });
    request.await.map_err(|e| e.to_string())
}

/// Run `request` on `store` in one transaction of `mode`, and wait until
/// it is done.
pub async fn with_store<T>(
    store: &str,
    mode: TransactionMode,
    request: impl AsyncFnOnce(&ObjectStore) -> Result<T, idb::Error>,
) -> Result<T, String> {
    let db = open().await?;
    let result = async {
        let tx = db.transaction(&[store], mode)?;
        let out = request(&tx.object_store(store)?).await?;
        tx.commit()?.await?;
        Ok(out)
    }
    .await
    .map_err(|e: idb::Error| e.to_string());
    db.close();
    result
}

/// Keep `bytes` as the trained weights of `kind`.
pub async fn save(kind: WeightsKind, bytes: &[u8]) -> Result<(), String> {
    let value = js_sys::Uint8Array::from(bytes);
    with_store(WEIGHTS, TransactionMode::ReadWrite, async |store| {
        store.put(&value, Some(&key(kind)))?.await.map(|_| ())
    })
    .await
}

/// The kept weights of `kind`, if any.
pub async fn load(kind: WeightsKind) -> Result<Option<Vec<u8>>, String> {
    let value = with_store(WEIGHTS, TransactionMode::ReadOnly, async |store| {
        store.get(key(kind))?.await
    })
    .await?;
    Ok(value.map(|v| js_sys::Uint8Array::new(&v).to_vec()))
}

/// Forget the kept weights of `kind`.
pub async fn forget(kind: WeightsKind) -> Result<(), String> {
    with_store(WEIGHTS, TransactionMode::ReadWrite, async |store| {
        store.delete(key(kind))?.await
    })
    .await
}
