// The load generator of bench/bench_ingest.py: sends pre-encoded records with the Kafka Java
// client, so the benchmark measures the ledger rather than a Python producer (kafka-python
// spends a core per ~10k records on the same 2 cores as the broker and the consumer).
//
// java -cp 'KAFKA_LIB/*' BenchProducer.java BOOTSTRAP TOPIC RECORDS_FILE
// Loads the file, prints "ready", waits for a line on stdin, sends every record (acks=all),
// flushes and prints "sent N". File: per record, big-endian int lengths (-1 = null key):
// key, header count, (name, value) per header, value.

import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.FileInputStream;
import java.io.BufferedInputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class BenchProducer {
    public static void main(String[] args) throws Exception {
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(
                new BufferedInputStream(new FileInputStream(args[2]), 1 << 20))) {
            while (true) {
                int keyLength;
                try {
                    keyLength = in.readInt();
                } catch (EOFException end) {
                    break;
                }
                byte[] key = keyLength < 0 ? null : read(in, keyLength);
                RecordHeaders headers = new RecordHeaders();
                for (int count = in.readInt(); count > 0; count--) {
                    String name = new String(read(in, in.readInt()), StandardCharsets.UTF_8);
                    headers.add(name, read(in, in.readInt()));
                }
                byte[] value = read(in, in.readInt());
                records.add(new ProducerRecord<>(args[1], null, key, value, headers));
            }
        }
        Properties config = new Properties();
        config.put("bootstrap.servers", args[0]);
        config.put("acks", "all");
        config.put("linger.ms", "20");
        config.put("batch.size", String.valueOf(512 * 1024));
        config.put("buffer.memory", String.valueOf(256L * 1024 * 1024));
        config.put("key.serializer", ByteArraySerializer.class.getName());
        config.put("value.serializer", ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(config)) {
            producer.partitionsFor(args[1]);
            System.out.println("ready");
            System.out.flush();
            new BufferedReader(new InputStreamReader(System.in)).readLine();
            AtomicReference<Exception> failed = new AtomicReference<>();
            for (ProducerRecord<byte[], byte[]> record : records) {
                producer.send(record, (metadata, error) -> {
                    if (error != null) failed.compareAndSet(null, error);
                });
            }
            producer.flush();
            if (failed.get() != null) {
                System.out.println("failed " + failed.get());
                System.exit(1);
            }
        }
        System.out.println("sent " + records.size());
    }

    private static byte[] read(DataInputStream in, int length) throws Exception {
        byte[] bytes = new byte[length];
        in.readFully(bytes);
        return bytes;
    }
}
