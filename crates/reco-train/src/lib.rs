//! reco's trainer (two-tower model, embeddings, offline evaluation): not built yet.
