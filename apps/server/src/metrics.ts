/**
 * Prometheus metrics with vLLM's names under `oar:` (so vLLM's dashboards
 * read them with a prefix changed), each labelled with the served model's
 * name, plus Node's default process metrics; one registry per server.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Engine } from "@oar/generation";

// vLLM's buckets (vllm/v1/metrics/loggers.py), so the histograms compare.
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

export interface ServerMetrics {
  readonly registry: Registry;
  readonly timeToFirstToken: Histogram;
  readonly interTokenLatency: Histogram;
  readonly e2eLatency: Histogram;
  readonly queueTime: Histogram;
  readonly promptTokens: Counter;
  readonly generationTokens: Counter;
  readonly requestSuccess: Counter<"finished_reason">;
  readonly prefixCacheQueries: Counter;
  readonly prefixCacheHits: Counter;
}

/** The metrics of a server serving `modelName`; the gauges read `engine()` (null while loading) when scraped. */
export function createMetrics(modelName: string, engine: () => Engine | null): ServerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ model_name: modelName });
  collectDefaultMetrics({ register: registry });
  const gauge = (name: string, help: string, read: (e: Engine) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const e = engine();
        this.set(e === null ? 0 : read(e));
      },
    });
  };
  gauge("oar:num_requests_running", "Number of requests in model execution batches.", (e) => e.running);
  gauge("oar:num_requests_waiting", "Number of requests waiting to be processed.", (e) => e.waiting);
  gauge("oar:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", (e) => e.cacheUsage);
  const histogram = (name: string, help: string, buckets: number[]): Histogram =>
    new Histogram({ name, help, buckets, registers: [registry] });
  const counter = (name: string, help: string): Counter => new Counter({ name, help, registers: [registry] });
  return {
    registry,
    timeToFirstToken: histogram("oar:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS),
    interTokenLatency: histogram("oar:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", ITL_BUCKETS),
    e2eLatency: histogram("oar:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", LATENCY_BUCKETS),
    queueTime: histogram("oar:request_queue_time_seconds", "Histogram of time spent waiting in the queue in seconds.", LATENCY_BUCKETS),
    promptTokens: counter("oar:prompt_tokens_total", "Number of prefill tokens processed."),
    generationTokens: counter("oar:generation_tokens_total", "Number of generation tokens processed."),
    requestSuccess: new Counter({
      name: "oar:request_success_total",
      help: "Count of successfully processed requests.",
      labelNames: ["finished_reason"],
      registers: [registry],
    }),
    prefixCacheQueries: counter("oar:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens."),
    prefixCacheHits: counter("oar:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens."),
  };
}
