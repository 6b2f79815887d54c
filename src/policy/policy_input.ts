/**
 * The `input` document every tenant policy sees (policies/README.md).
 * Entitlements travel here rather than in Wasm `data`, which the SDK would
 * re-serialize whole on every change.
 */
export interface PolicyInput {
  readonly tenant: string;
  /** Unix seconds at decision time; policies have no clock of their own. */
  readonly now: number;
  readonly subject: {
    readonly id: string;
    readonly user_name: string;
    readonly external_id: string | null;
    readonly active: boolean;
    readonly attributes: Readonly<Record<string, unknown>>;
    readonly roles: readonly string[];
    readonly groups: readonly {
      readonly id: string;
      readonly display_name: string;
      readonly external_id: string | null;
    }[];
    readonly reauthenticate_after?: number;
  };
  readonly session: {
    readonly id: string;
    readonly issuer: string;
    readonly acr: string | null;
    readonly amr: readonly string[];
    readonly auth_time: number | null;
    readonly expires_at: number;
    readonly revoked: boolean;
    readonly ip: string | null;
    readonly device_id: string | null;
  } | null;
  readonly posture: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly action: { readonly name: string; readonly properties: Readonly<Record<string, unknown>> };
  readonly resource: {
    readonly type: string;
    readonly id: string;
    readonly properties: Readonly<Record<string, unknown>>;
  };
  readonly context: Readonly<Record<string, unknown>>;
}
