//! reco's vector store on PostgreSQL + pgvector (loader, HNSW index, batched k-NN): not built yet.
