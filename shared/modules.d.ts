// Text modules bundled by wrangler's [[rules]] (type = "Text"): lakehouse.toml and SQL migrations.
declare module "*.toml" {
  const text: string;
  export default text;
}
declare module "*.sql" {
  const text: string;
  export default text;
}
