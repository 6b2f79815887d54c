/**
 * deploy/kubernetes: every document validates against the Kubernetes JSON
 * schemas (kubernetes-models), and the properties operators rely on hold.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../harness/opa.js';

const DIR = join(PROJECT_ROOT, 'deploy/kubernetes');

interface Manifest {
  readonly file: string;
  readonly kind: string;
  readonly metadata: { readonly name: string };
  readonly [key: string]: unknown;
}

const MODELS: Record<string, new (value: never) => { validate(): void }> = {
  Namespace,
  ConfigMap,
  Secret,
  Service,
  Deployment,
  StatefulSet,
  PodDisruptionBudget,
  NetworkPolicy,
};

function manifests(): Manifest[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? ''}`);
        return { file, ...(doc.toJS() as Record<string, unknown>) } as Manifest;
      }),
    );
}

interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: string[];
  readonly resources?: { requests?: Record<string, string> };
  readonly livenessProbe?: unknown;
  readonly readinessProbe?: unknown;
  readonly securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  readonly volumeMounts?: { name: string; mountPath: string }[];
  readonly env?: { name: string; value?: string }[];
}

const podSpec = (
  m: Manifest,
): {
  containers: Container[];
  volumes?: { name: string; emptyDir?: unknown }[];
  securityContext?: { runAsNonRoot?: boolean };
} => (m['spec'] as { template: { spec: never } }).template.spec;

describe('deploy/kubernetes', () => {
  const all = manifests();

  it('every document is a known kind that validates against the Kubernetes schemas', () => {
    expect(all.length).toBeGreaterThan(10);
    for (const m of all) {
      const Model = MODELS[m.kind];
      expect(Model, `${m.file}: ${m.kind}`).toBeDefined();
      const { file: _file, ...object } = m;
      expect(() => {
        new Model!(object as never).validate();
      }, `${m.file}: ${m.kind}/${m.metadata.name}`).not.toThrow();
    }
  });

  it('a schema violation is caught (the validator can fail)', () => {
    expect(() => {
      new Deployment({
        metadata: { name: 'x' },
        spec: { selector: {}, template: { spec: { containers: [{ name: 'a', image: 3 }] } } },
      } as never).validate();
    }).toThrow(/image/);
  });

  it('every workload runs non-root with probes, resource requests and read-only root filesystems', () => {
    const workloads = all.filter((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet');
    expect(workloads.map((w) => w.metadata.name).sort()).toEqual(['example-app', 'ipsie-gateway', 'nats']);
    for (const w of workloads) {
      const spec = podSpec(w);
      expect(spec.securityContext?.runAsNonRoot, w.metadata.name).toBe(true);
      for (const c of spec.containers) {
        const at = `${w.metadata.name}/${c.name}`;
        expect(c.resources?.requests?.['cpu'], at).toBeDefined();
        expect(c.resources?.requests?.['memory'], at).toBeDefined();
        expect(c.livenessProbe, at).toBeDefined();
        expect(c.readinessProbe, at).toBeDefined();
        expect(c.securityContext?.readOnlyRootFilesystem, at).toBe(true);
        expect(c.securityContext?.allowPrivilegeEscalation, at).toBe(false);
      }
    }
  });

  it('the app and its sidecar share the Check socket on an emptyDir; the sidecar probes /readyz', () => {
    const app = all.find((m) => m.kind === 'Deployment' && m.metadata.name === 'example-app');
    const spec = podSpec(app!);
    const sidecar = spec.containers.find((c) => c.name === 'ipsie-sidecar');
    const main = spec.containers.find((c) => c.name === 'app');
    const socketEnv = sidecar?.env?.find((e) => e.name === 'IPSIE_GRPC_SOCKET')?.value ?? '';
    const socketMount = sidecar?.volumeMounts?.find((v) => socketEnv.startsWith(`${v.mountPath}/`));
    expect(socketMount).toBeDefined();
    expect(main?.volumeMounts?.some((v) => v.name === socketMount?.name && v.mountPath === socketMount.mountPath)).toBe(
      true,
    );
    expect(spec.volumes?.find((v) => v.name === socketMount?.name)?.emptyDir).toBeDefined();
    expect(sidecar?.readinessProbe).toMatchObject({ httpGet: { path: '/readyz' } });
    expect(sidecar?.args).toEqual(['sidecar']);
  });

  it('every workload has a PodDisruptionBudget and a NetworkPolicy; NATS runs 3 replicas with R3 streams', () => {
    const names = (kind: string): string[] =>
      all
        .filter((m) => m.kind === kind)
        .map((m) => m.metadata.name)
        .sort();
    expect(names('PodDisruptionBudget')).toEqual(['example-app', 'ipsie-gateway', 'nats']);
    expect(names('NetworkPolicy')).toEqual(['example-app', 'ipsie-gateway', 'nats']);
    const nats = all.find((m) => m.kind === 'StatefulSet')!;
    expect((nats['spec'] as { replicas: number }).replicas).toBe(3);
    const gateway = podSpec(all.find((m) => m.metadata.name === 'ipsie-gateway' && m.kind === 'Deployment')!);
    expect(gateway.containers[0]?.env).toContainEqual({ name: 'IPSIE_STREAM_REPLICAS', value: '3' });
  });
});

describe('deploy/Dockerfile', () => {
  const text = readFileSync(join(PROJECT_ROOT, 'deploy/Dockerfile'), 'utf8');

  it('is multi-stage, carries opa at the pinned version, and runs as a non-root user', () => {
    expect(text.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(3);
    const pinned = /OPA_VERSION="(v[\d.]+)"/.exec(readFileSync(join(PROJECT_ROOT, 'scripts/lib.sh'), 'utf8'))?.[1];
    expect(pinned).toBeDefined();
    expect(text).toContain(`ARG OPA_VERSION=${pinned ?? ''}`);
    expect(text).toMatch(/COPY --from=opa \/out\/opa \/usr\/local\/bin\/opa/);
    expect(text).toMatch(/^USER node$/m);
    expect(text).toMatch(/ENTRYPOINT \["node", "\/app\/dist\/main\.js"\]/);
  });

  it('sets no store file for every role: each keeps its own default, under the writable volume', () => {
    expect(text).not.toMatch(/^\s*IPSIE_STORE_PATH=/m);
    expect(text).toMatch(/ln -s \/var\/lib\/ipsie \/app\/data/);
    expect(text).toMatch(/^VOLUME \[[^\]]*"\/var\/lib\/ipsie"/m);
  });
});
