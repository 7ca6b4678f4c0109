// GET /v1/health: every service's /health in parallel, each with a timeout.
import { SERVICES, type ServiceName } from "../../../shared/clients";

export interface AggregateHealth {
  status: "ok" | "degraded";
  services: Record<ServiceName, string>;
}

export async function aggregateHealth(
  env: Record<string, unknown>,
  timeoutMs: number,
): Promise<AggregateHealth> {
  const entries = await Promise.all(
    (Object.keys(SERVICES) as ServiceName[]).map(
      async (service): Promise<[ServiceName, string]> => {
        const fetcher = env[SERVICES[service].binding] as Fetcher | undefined;
        if (!fetcher) return [service, "unbound"];
        try {
          const res = await fetcher.fetch(`https://${service}.internal/health`, {
            signal: AbortSignal.timeout(timeoutMs),
          });
          if (!res.ok) return [service, `error: HTTP ${res.status}`];
          const body = (await res.json()) as { status?: string };
          return [
            service,
            body.status === "ok" ? "ok" : `error: status ${JSON.stringify(body.status)}`,
          ];
        } catch (err) {
          return [service, `error: ${(err as Error).message}`];
        }
      },
    ),
  );
  const services = Object.fromEntries(entries) as Record<ServiceName, string>;
  const status = entries.every(([, s]) => s === "ok") ? "ok" : "degraded";
  return { status, services };
}
