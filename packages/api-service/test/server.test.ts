import test from 'ava';
import * as grpc from '@grpc/grpc-js';
import { usageError, userError } from '@rktnetes/errors';
import { tmpDir } from '@rktnetes/testkit';
import { parseListenAddress, serverStream, startApiService, unary, type ServiceRegistration } from '@rktnetes/api-service';
import { apiClient } from './helpers/server';

// a second gRPC service next to v1alpha, as the CRI will be: JSON-encoded for the test
const json = {
  requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()),
  responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()),
};
const definition = {
  Say: { path: '/test.Echo/Say', requestStream: false, responseStream: false, ...json },
  Count: { path: '/test.Echo/Count', requestStream: false, responseStream: true, ...json },
} as unknown as grpc.ServiceDefinition;

const echo: ServiceRegistration = {
  definition,
  implementation: {
    Say: unary((req: { text: string }) => {
      if (!req.text) throw usageError('api.invalid-argument', 'text is required');
      if (req.text === 'missing') throw userError('thing.not-found', 'no such thing');
      return { text: req.text.toUpperCase() };
    }),
    Count: serverStream(async (req: { n: number }, sink) => {
      for (let i = 0; i < req.n; i++) await sink.write({ i });
      if (req.n > 2) throw new Error('too many');
    }),
  } as unknown as grpc.UntypedServiceImplementation,
};

test('one server serves v1alpha and further services; errors map through grpcStatusOf', async (t) => {
  const data = await tmpDir('api-server', t);
  const svc = await startApiService({ dataDir: data, listen: [parseListenAddress('127.0.0.1:0')], extraServices: [echo] });
  t.teardown(() => svc.close());
  const v1 = apiClient(svc.addresses[0]!);
  t.teardown(() => v1.close());
  t.deepEqual((await v1.call('ListPods')).pods, []);

  const Client = grpc.makeGenericClientConstructor(definition as never, 'Echo');
  const c = new Client(svc.addresses[0]!, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<'Say' | 'Count', Function>;
  t.teardown(() => c.close());
  const say = (text: string) => new Promise<any>((resolve, reject) => c.Say({ text }, (e: unknown, r: unknown) => (e ? reject(e) : resolve(r))));
  t.deepEqual(await say('hi'), { text: 'HI' });
  await t.throwsAsync(say(''), { code: grpc.status.INVALID_ARGUMENT, message: /text is required/ } as never);
  await t.throwsAsync(say('missing'), { code: grpc.status.NOT_FOUND } as never);
  const got: number[] = [];
  const err = await new Promise<grpc.ServiceError | undefined>((resolve) => {
    const s = c.Count({ n: 3 });
    s.on('data', (m: { i: number }) => got.push(m.i));
    s.on('error', resolve);
    s.on('end', () => resolve(undefined));
  });
  t.deepEqual(got, [0, 1, 2]);
  t.is(err?.code, grpc.status.UNKNOWN, 'a plain Error is UNKNOWN');
  t.is(err?.details, 'too many');
});
