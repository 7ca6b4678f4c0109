// The Worker-side entry to configuration: the bundled lakehouse.toml plus the
// Worker's LH_* vars, validated once per isolate.
import configText from "../lakehouse.toml";
import { type LakehouseConfig, loadConfig } from "./config";

export function lakehouseConfig(env: object): LakehouseConfig {
  return loadConfig(configText, env as Record<string, unknown>);
}
