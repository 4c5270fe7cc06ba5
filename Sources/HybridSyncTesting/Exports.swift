// The backend API client and the token minter live in HybridSyncAdmin; tests get them with
// `import HybridSyncTesting`.
@_exported public import HybridSyncAdmin
