/**
 * push/pull through an S3 remote, against a real S3-compatible server (s3rver) on 127.0.0.1
 * started by the test: the same guarantees as a directory remote (remote_test.ts).
 */
import S3rver from "s3rver";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { assertRemoteRoundTrip } from "./helpers/remote_checks.ts";
import { withWorkspace } from "./helpers/workspace.ts";

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
        await assertRemoteRoundTrip(ws, `s3://${bucket}/team/cache`, async (objectPath) => {
          await client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: `team/cache/${objectPath}`,
              Body: '{"sum": 999}',
            }),
          );
        });

        // A bucket that is not there is a usage error naming it.
        const missing = await ws.cli("pull", "s3://no-such-bucket/cache");
        assertEquals(missing.code, 2);
        assertStringIncludes(missing.stderr, 'there is no bucket "no-such-bucket"');
      })
    ),
});
