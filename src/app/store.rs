//! Trained weights kept in this browser (IndexedDB) across reloads: one
//! safetensors file per model, under the model's name. A browser that
//! refuses storage (private mode, quota) only loses the keeping; every call
//! says why instead of failing the page.

use idb::{Database, DatabaseEvent, Factory, ObjectStoreParams, TransactionMode};
use wasm_bindgen::JsValue;

use super::engine::WeightsKind;

const DB: &str = "neuralpad";
const STORE: &str = "weights";

fn key(kind: WeightsKind) -> JsValue {
    JsValue::from_str(match kind {
        WeightsKind::Digits => "digits",
        WeightsKind::Text => "text",
    })
}

async fn open() -> Result<Database, String> {
    let factory = Factory::new().map_err(|e| e.to_string())?;
    let mut request = factory.open(DB, Some(1)).map_err(|e| e.to_string())?;
    request.on_upgrade_needed(|event| {
        if let Ok(db) = event.database() {
            let _ = db.create_object_store(STORE, ObjectStoreParams::new());
        }
    });
    request.await.map_err(|e| e.to_string())
}

/// Keep `bytes` as the trained weights of `kind`.
pub async fn save(kind: WeightsKind, bytes: &[u8]) -> Result<(), String> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(|e| e.to_string())?;
    let store = tx.object_store(STORE).map_err(|e| e.to_string())?;
    let value = js_sys::Uint8Array::from(bytes);
    store
        .put(&value, Some(&key(kind)))
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    tx.commit()
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    db.close();
    Ok(())
}

/// The kept weights of `kind`, if any.
pub async fn load(kind: WeightsKind) -> Result<Option<Vec<u8>>, String> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadOnly)
        .map_err(|e| e.to_string())?;
    let store = tx.object_store(STORE).map_err(|e| e.to_string())?;
    let value = store
        .get(key(kind))
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    db.close();
    Ok(value.map(|v| js_sys::Uint8Array::new(&v).to_vec()))
}

/// Forget the kept weights of `kind`.
pub async fn forget(kind: WeightsKind) -> Result<(), String> {
    let db = open().await?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(|e| e.to_string())?;
    let store = tx.object_store(STORE).map_err(|e| e.to_string())?;
    store
        .delete(key(kind))
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    tx.commit()
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    db.close();
    Ok(())
}
