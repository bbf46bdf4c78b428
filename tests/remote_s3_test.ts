/**
 * push/pull through an S3 remote, against a real S3-compatible server (s3rver) on 127.0.0.1
 * started by the test: the same guarantees as a directory remote (remote_test.ts).
 */
import { join } from "node:path";
import S3rver from "s3rver";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { assertEquals, assertMatch, assertStringIncludes } from "./helpers/assert.ts";
import { TestWorkspace, withWorkspace } from "./helpers/workspace.ts";

const ranIn = TestWorkspace.ranIn;

/** Runs `body` with an S3 server holding an empty bucket, and the AWS variables pointing at it. */
async function withS3Server(
  body: (s3: { client: S3Client; bucket: string }) => Promise<void>,
): Promise<void> {
  const directory = await Deno.makeTempDir({ prefix: "s3rver-" });
  const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory });
  const { port } = await server.run();
  const variables: Record<string, string> = {
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
  };
  const saved = Object.keys(variables).map((name) => [name, Deno.env.get(name)] as const);
  for (const [name, value] of Object.entries(variables)) Deno.env.set(name, value);
  const client = new S3Client({
    endpoint: variables.AWS_ENDPOINT_URL,
    forcePathStyle: true,
    region: "us-east-1",
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: "unlearning-cache" }));
    await body({ client, bucket: "unlearning-cache" });
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
    client.destroy();
    await server.close();
    await Deno.remove(directory, { recursive: true });
  }
}

Deno.test({
  name: "an S3 remote: pull makes a fresh clone's run fully cached, a corrupt object is not pulled",
  // The SDK keeps sockets alive between requests past the end of the test.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withS3Server(({ client, bucket }) =>
      withWorkspace(async (ws) => {
        await ws.cli("run");
        const remote = `s3://${bucket}/team/cache`;
        const pushed = await ws.cli("push", remote);
        assertEquals(pushed.code, 0, pushed.stderr);
        assertMatch(
          pushed.stdout,
          /^pushed [1-9]\d* object\(s\) \(\d+ bytes\) and 4 run-cache entries$/m,
        );
        assertStringIncludes((await ws.cli("push", remote)).stdout, "pushed 0 object(s)");

        await Deno.remove(join(ws.root, ".cache"), { recursive: true });
        const pulled = await ws.cli("pull", remote);
        assertEquals(pulled.code, 0, pulled.stderr);
        assertStringIncludes(pulled.stdout, "and 4 run-cache entries");
        const rerun = await ws.cli("run");
        assertEquals(ranIn(rerun), []);
        assertStringIncludes(rerun.stdout, "4 up to date");

        // Corrupt one object in the bucket: it is not pulled, and its instance recomputes.
        await Deno.remove(join(ws.root, ".cache"), { recursive: true });
        const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
        const hash: string = lock.stages["02_train@b"].outputs.weights.sha256;
        await client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `team/cache/objects/${hash.slice(0, 2)}/${hash.slice(2)}`,
            Body: '{"sum": 999}',
          }),
        );
        const partial = await ws.cli("pull", remote);
        assertStringIncludes(
          partial.stdout,
          "1 referenced object(s) are on neither side (or corrupt)",
        );
        assertEquals(ranIn(await ws.cli("run")), ["02_train@b"]);

        // A bucket that is not there is a usage error naming it.
        const missing = await ws.cli("pull", "s3://no-such-bucket/cache");
        assertEquals(missing.code, 2);
        assertStringIncludes(missing.stderr, 'there is no bucket "no-such-bucket"');
      })
    ),
});
